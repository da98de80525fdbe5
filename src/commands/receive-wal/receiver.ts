/**
 * receive-wal: WAL streaming into `streaming_wals_directory` with pg_receivewal, as Barman's
 * StreamingWalArchiver does. Under `.<server>-receive-wal.lock` (whose pid is how `--stop`, cron and
 * `check` find the process): sanity checks on the replication connection, the program and the
 * slot (created first when create_slot = auto), a `.partial` of impossible size truncated, then
 * pg_receivewal runs in the foreground with `--no-loop` until it fails or is stopped; SIGINT and
 * SIGTERM are passed on to it as SIGINT (a clean stop on every PostgreSQL version). Nothing is
 * restarted here: cron starts receive-wal again the next minute.
 *
 * With `encryption = gpg` pg_receivewal is not used: after the same checks (and a slot required,
 * and no synchronous standby) sealing-receiver.ts streams WAL itself, sealing each segment.
 *
 * Also `--stop`. The slot commands are in slots.ts, `--reset` in reset.ts.
 */
import { mkdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError, describeError } from '../../errors/index.js';
import { isLockHeld, serverLockPath, tryAcquireLock } from '../../locks/index.js';
import { stopLockHolder } from '../../locks/processes.js';
import type { Logger } from '../../log/index.js';
import type { Reporter } from '../../output/reporter.js';
import type { ReplicationSlot } from '../../postgres/index.js';
import {
  identifySystem,
  PostgresClient,
  programConnection,
  replicationSlot,
  synchronousStandbyNames,
  versionNumber,
  walSegmentSize,
} from '../../postgres/index.js';
import { findProgram, postgresToolVersion } from '../../process/postgres-tools.js';
import { superviseProgram } from '../../process/supervise.js';
import { keepNewFilesPrivate } from '../../storage/durable-files.js';
import type { ResetOutcome } from './reset.js';
import { newestWal, resetStreamingStatus } from './reset.js';
import { checkSealingKey, runSealingReceiver, sealingOf, synchronousRefused } from './sealing-receiver.js';
import { createSlotQuietly } from './slots.js';

export interface ReceiverEnvironment {
  config: ServerConfig;
  report: Reporter;
  log: Logger;
  /** The file that sets the server's encryption option (for messages naming it). */
  configFile?: string;
}

export function receiverLockPath(config: ServerConfig): string {
  return serverLockPath(config.barman_lock_directory, config.name, 'receive-wal');
}

/** Whether a receive-wal of this server runs (holds its lock; the probe creates no file). */
export function receiverRunning(config: ServerConfig): boolean {
  return isLockHeld(receiverLockPath(config));
}

// ------------------------------------------------------------------------------------ --stop

export interface StopOutcome {
  pid: number;
  /** False when the lock was still held after `waitMs`. */
  stopped: boolean;
}

/**
 * Sends SIGINT to the receive-wal process of the server and waits until its lock is free.
 * Null when no receive-wal is running.
 */
export async function stopReceiver(config: ServerConfig, waitMs: number): Promise<StopOutcome | null> {
  const outcome = await stopLockHolder(receiverLockPath(config), { waitMs, task: 'receive-wal' });
  return outcome.kind === 'ended' ? null : { pid: outcome.pid, stopped: outcome.kind === 'stopped' };
}

// ----------------------------------------------------------------------------- receive-wal

/** What receive-wal learnt from PostgreSQL before streaming. */
export interface StreamingStatus {
  /** pg_receivewal's path; null for the sealing receiver (encryption = gpg), which needs none. */
  program: string | null;
  programName: string;
  /** The cluster's system identifier (IDENTIFY_SYSTEM). */
  systemid: string;
  timeline: number;
  /** Server's current WAL position (IDENTIFY_SYSTEM xlogpos). */
  xlogpos: string;
  segmentSize: number;
  synchronous: boolean;
  slot: ReplicationSlot | null;
  slotCreated: boolean;
}

export interface ReceiveOutcome {
  mode: 'receive';
  /** The slot receive-wal created first (create_slot = auto), if any. */
  slot_created: string | null;
  /** A `.partial` of impossible size emptied before starting. */
  truncated_partial: string | null;
  exit_code: number | null;
  /** The signal that stopped receive-wal (passed on to pg_receivewal as SIGINT). */
  stopped_by: string | null;
  /** Segments the sealing receiver (encryption = gpg) sealed into streaming/. */
  sealed_segments?: number;
}

/** receive-wal (and `--reset`): see the module comment. */
export async function receiveWal(
  env: ReceiverEnvironment,
  options: { reset: boolean },
): Promise<ReceiveOutcome | ResetOutcome> {
  const { config, report } = env;
  if (!config.streaming_archiver) {
    throw new BarmanError(
      'streaming-archiver-off',
      "Unable to start receive-wal process: streaming_archiver option set to 'off' in barman configuration file",
    );
  }
  const sealing = sealingOf(env, options.reset);
  if (!options.reset) report.info(`Starting receive-wal for server ${config.name}`);
  await mkdir(config.barman_lock_directory, { recursive: true });
  const lock = tryAcquireLock(receiverLockPath(config));
  if (!lock) {
    throw new BarmanError(
      'receive-wal-running',
      options.reset
        ? `Unable to reset the status of receive-wal for server ${config.name}. Process is still running`
        : `Another receive-wal process is already running for server ${config.name}.`,
      options.reset ? { hint: `Stop it first: barman receive-wal --stop ${config.name}` } : {},
    );
  }
  try {
    await mkdir(config.streaming_wals_directory, { recursive: true });
    if (sealing) await checkSealingKey(sealing);
    const status = await streamingStatus(env, options.reset, sealing !== null);
    if (options.reset) return await resetStreamingStatus(env, status);
    if (sealing) return await runSealingReceiver(env, status, sealing);
    const truncated = await truncatePartialIfNeeded(env, status.segmentSize);
    return await runReceiver(env, status, truncated);
  } finally {
    lock.release();
  }
}

/** Barman's sanity checks: replication connection, pg_receivewal and its version, the slot. */
async function streamingStatus(
  env: ReceiverEnvironment,
  reset: boolean,
  sealed: boolean,
): Promise<StreamingStatus> {
  const { config, report } = env;
  let identity;
  try {
    identity = await identifySystem(config.streaming_conninfo, { applicationName: 'barman' });
  } catch (error) {
    throw new BarmanError(
      'streaming-connection-failed',
      `failed opening the PostgreSQL streaming connection for server ${config.name}: ${describeError(error)}`,
      {
        cause: error,
        hint: 'Check streaming_conninfo, that PostgreSQL is running, and that pg_hba.conf allows replication connections.',
      },
    );
  }

  const programName = sealed
    ? 'receive-wal'
    : identity.serverVersion > 0 && identity.serverVersion < 100000
      ? 'pg_receivexlog'
      : 'pg_receivewal';
  const program = sealed ? null : await pgReceiveWal(programName, config.path_prefix, identity.serverVersion);

  const client = await PostgresClient.connect(config.conninfo);
  let segmentSize: number;
  let synchronous: boolean;
  let slot: ReplicationSlot | null = null;
  try {
    segmentSize = await walSegmentSize(client);
    const names = await synchronousStandbyNames(client);
    synchronous = names.includes('*') || names.includes(config.streaming_archiver_name);
    if (sealed && synchronous && !reset) throw synchronousRefused(env);
    if (config.slot_name) slot = await replicationSlot(client, config.slot_name);
  } finally {
    await client.close();
  }

  let slotCreated = false;
  if (config.slot_name) {
    if (slot === null) {
      if (config.create_slot !== 'auto') {
        throw new BarmanError(
          'slot-missing',
          `replication slot '${config.slot_name}' doesn't exist. Please execute 'barman receive-wal --create-slot ${config.name}'`,
        );
      }
      // Barman does not create the slot for a reset; the position then comes from the server.
      if (!reset) {
        report.info(`Creating replication slot '${config.slot_name}'`);
        await createSlotQuietly(config, config.slot_name);
        slotCreated = true;
      }
    } else if (slot.active) {
      throw new BarmanError('slot-in-use', `replication slot '${config.slot_name}' is already in use`, {
        hint:
          'Another client streams with this slot. A receive-wal killed with SIGKILL leaves its pg_receivewal ' +
          'running: end that process.',
      });
    }
  }
  return {
    program,
    programName,
    systemid: identity.systemid,
    timeline: identity.timeline,
    xlogpos: identity.xlogpos,
    segmentSize,
    synchronous,
    slot,
    slotCreated,
  };
}

/** pg_receivewal (or pg_receivexlog) in path_prefix or $PATH, of the server's major version or newer. */
async function pgReceiveWal(
  programName: string,
  pathPrefix: string | null,
  serverVersion: number,
): Promise<string> {
  const program = await findProgram(programName, pathPrefix);
  if (!program) {
    throw new BarmanError('pg-receivewal-missing', `${programName} not present in path_prefix or $PATH`, {
      hint: "Install the PostgreSQL client programs of the server's version, or set path_prefix to their directory.",
    });
  }
  const tool = await postgresToolVersion(program);
  const serverMajor = majorVersionNumber(serverVersion);
  if (!tool || majorVersionNumber(versionNumber(tool.text)) < serverMajor) {
    throw new BarmanError(
      'pg-receivewal-incompatible',
      `${programName} version not compatible with PostgreSQL server version: ${program} is ` +
        `${tool?.text ?? 'of unknown version'}, the server is ${majorText(serverMajor)}`,
      {
        hint: `${programName} must be of the server's major version or newer: set path_prefix to the bin directory of a suitable one.`,
      },
    );
  }
  return program;
}

/** 150018 -> 150000, 90624 -> 90600. */
function majorVersionNumber(version: number): number {
  return version >= 100000 ? Math.floor(version / 10000) * 10000 : Math.floor(version / 100) * 100;
}

function majorText(major: number): string {
  return major >= 100000 ? String(major / 10000) : `${Math.floor(major / 10000)}.${(major / 100) % 100}`;
}

/** The pg_receivewal command line (Barman's, plus `--no-password`: nobody can answer a prompt). */
export function pgReceiveWalArguments(options: {
  conninfo: string;
  directory: string;
  slot: string | null;
  synchronous: boolean;
}): string[] {
  return [
    `--dbname=${options.conninfo}`,
    '--verbose',
    '--no-loop',
    '--no-password',
    `--directory=${options.directory}`,
    ...(options.slot ? [`--slot=${options.slot}`] : []),
    ...(options.synchronous ? ['--synchronous'] : []),
  ];
}

async function runReceiver(
  env: ReceiverEnvironment,
  status: StreamingStatus,
  truncated: string | null,
): Promise<ReceiveOutcome> {
  const { config, report, log } = env;
  // The password goes through the environment, not the command line other users can read.
  const connection = programConnection(config.streaming_conninfo, {
    application_name: config.streaming_archiver_name,
  });
  const args = pgReceiveWalArguments({
    conninfo: connection.conninfo,
    directory: config.streaming_wals_directory,
    slot: config.slot_name,
    synchronous: status.synchronous,
  });
  log.info('Activating WAL archiving through streaming protocol', { program: status.program, args });
  const privacy = await keepNewFilesPrivate(config.streaming_wals_directory);
  let exit;
  try {
    exit = await superviseProgram(status.program!, args, {
      onLine: (line) => log.info(`${config.name}: ${line}`),
      forwardSignals: ['SIGINT', 'SIGTERM'],
      forwardAs: 'SIGINT',
      env: connection.env,
    });
  } finally {
    await privacy.stop();
  }
  const outcome: ReceiveOutcome = {
    mode: 'receive',
    slot_created: status.slotCreated ? config.slot_name : null,
    truncated_partial: truncated,
    exit_code: exit.code,
    stopped_by: exit.forwarded,
  };
  if (exit.forwarded) {
    report.info(`${exit.forwarded} received. Terminate gracefully.`);
    return outcome;
  }
  const hint = `See ${status.programName}'s messages in the log file; cron starts receive-wal again within a minute.`;
  if (exit.signal) {
    throw new BarmanError(
      'receive-wal-failed',
      `${status.programName} terminated by signal: ${exit.signal}`,
      {
        hint,
      },
    );
  }
  if (exit.code !== 0) {
    throw new BarmanError(
      'receive-wal-failed',
      `${status.programName} terminated with error code: ${exit.code ?? 'unknown'}`,
      { hint },
    );
  }
  return outcome;
}

/**
 * pg_receivewal refuses a `.partial` that is neither empty nor a whole segment. Such a file can
 * only be left by a pg_receivewal that died while padding a new file (it pads before writing any
 * WAL), so emptying it loses nothing: pg_receivewal then streams that segment from its start.
 */
async function truncatePartialIfNeeded(
  env: ReceiverEnvironment,
  segmentSize: number,
): Promise<string | null> {
  const directory = env.config.streaming_wals_directory;
  const partial = await newestWal(directory, ['partial']);
  if (!partial) return null;
  const path = join(directory, partial);
  const { size } = await stat(path);
  if (size === 0 || size === segmentSize) return null;
  env.report.info(
    `Truncating partial file ${path} that has wrong size ${size} while ${segmentSize} was expected.`,
  );
  await truncate(path, 0);
  return path;
}
