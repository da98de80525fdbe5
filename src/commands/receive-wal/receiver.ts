/**
 * receive-wal: WAL streaming into `streaming_wals_directory` with pg_receivewal, as Barman's
 * StreamingWalArchiver does. Under `.<server>-receive-wal.lock` (whose pid is how `--stop`, cron and
 * `check` find the process): sanity checks on the replication connection, the program and the
 * slot (created first when create_slot = auto), a `.partial` of impossible size truncated, then
 * pg_receivewal runs in the foreground with `--no-loop` until it fails or is stopped; SIGINT and
 * SIGTERM are passed on to it as SIGINT (a clean stop on every PostgreSQL version). Nothing is
 * restarted here: cron starts receive-wal again the next minute.
 *
 * Also the slot commands (`--create-slot`, `--drop-slot`), `--stop`, and `--reset`, which moves
 * the streaming position to the slot's restart point when streaming/ is behind it (see resetPlan).
 */
import { mkdir, readdir, stat, truncate, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError, describeError } from '../../errors/index.js';
import { isLockHeld, serverLockPath, tryAcquireLock } from '../../locks/index.js';
import { stopLockHolder } from '../../locks/processes.js';
import type { Logger } from '../../log/index.js';
import type { Reporter } from '../../output/reporter.js';
import type { ReplicationSlot } from '../../postgres/index.js';
import {
  createReplicationSlot,
  dropReplicationSlot,
  identifySystem,
  PostgresClient,
  programConnection,
  replicationSlot,
  ReplicationSlotError,
  synchronousStandbyNames,
  versionNumber,
  walSegmentSize,
} from '../../postgres/index.js';
import { findProgram, postgresToolVersion } from '../../process/postgres-tools.js';
import { superviseProgram } from '../../process/supervise.js';
import { keepNewFilesPrivate } from '../../storage/posix.js';
import {
  compareWalNames,
  lsnToSegmentName,
  nextSegmentName,
  parseLsn,
  parseWalName,
  partialFileName,
  previousSegmentName,
} from '../../wal/names.js';

export interface ReceiverEnvironment {
  config: ServerConfig;
  report: Reporter;
  log: Logger;
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

// ------------------------------------------------------------------------------- slot commands

function requireSlotName(config: ServerConfig, what: 'create' | 'drop'): string {
  if (config.slot_name) return config.slot_name;
  throw new BarmanError(
    'slot-name-missing',
    `Unable to ${what} a physical replication slot: slot_name configuration option required for server '${config.name}'`,
  );
}

function connectionFailure(config: ServerConfig, error: ReplicationSlotError): BarmanError {
  return new BarmanError(
    'postgres-unreachable',
    `Cannot connect to server '${config.name}': ${error.message}`,
    {
      cause: error,
      hint: 'Check streaming_conninfo, and that pg_hba.conf allows replication connections for its user.',
    },
  );
}

/** `--create-slot`: CREATE_REPLICATION_SLOT over streaming_conninfo. */
export async function createSlot(
  env: ReceiverEnvironment,
  options: { ifNotExists: boolean },
): Promise<'created' | 'exists'> {
  const { config, report } = env;
  const slot = requireSlotName(config, 'create');
  report.info(`Creating physical replication slot '${slot}' on server '${config.name}'`);
  try {
    await createReplicationSlot(config.streaming_conninfo, slot);
  } catch (error) {
    if (error instanceof ReplicationSlotError) {
      if (error.failure === 'exists' && options.ifNotExists) {
        report.info(`Replication slot '${slot}' already exists`);
        return 'exists';
      }
      if (error.failure === 'exists') {
        throw new BarmanError('slot-exists', `Replication slot '${slot}' already exists`, { cause: error });
      }
      if (error.failure === 'full') {
        throw new BarmanError('slots-full', `All replication slots for server '${config.name}' are in use`, {
          cause: error,
          hint: "Raise max_replication_slots in PostgreSQL's configuration (restart needed), or drop an unused slot.",
        });
      }
      if (error.failure === 'connection') throw connectionFailure(config, error);
    }
    throw new BarmanError(
      'slot-create-failed',
      `Cannot create replication slot '${slot}' on server '${config.name}': ${describeError(error)}`,
      { cause: error },
    );
  }
  report.info(`Replication slot '${slot}' created`);
  return 'created';
}

/** `--drop-slot`: DROP_REPLICATION_SLOT over streaming_conninfo (refused while the slot is in use). */
export async function dropSlot(env: ReceiverEnvironment): Promise<void> {
  const { config, report } = env;
  const slot = requireSlotName(config, 'drop');
  report.info(`Dropping physical replication slot '${slot}' on server '${config.name}'`);
  try {
    await dropReplicationSlot(config.streaming_conninfo, slot);
  } catch (error) {
    if (error instanceof ReplicationSlotError) {
      if (error.failure === 'missing') {
        throw new BarmanError('slot-missing', `Replication slot '${slot}' does not exist`, { cause: error });
      }
      if (error.failure === 'in-use') {
        throw new BarmanError(
          'slot-in-use',
          `Cannot drop replication slot '${slot}' on server '${config.name}' because it is in use.`,
          {
            cause: error,
            hint: `Stop the process streaming with it first (barman receive-wal --stop ${config.name}).`,
          },
        );
      }
      if (error.failure === 'connection') throw connectionFailure(config, error);
    }
    throw new BarmanError(
      'slot-drop-failed',
      `Cannot drop replication slot '${slot}' on server '${config.name}': ${describeError(error)}`,
      { cause: error },
    );
  }
  report.info(`Replication slot '${slot}' dropped`);
}

// ----------------------------------------------------------------------------- receive-wal

/** What receive-wal learnt from PostgreSQL before streaming. */
interface StreamingStatus {
  program: string;
  programName: string;
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
}

export interface ResetOutcome {
  mode: 'reset';
  action: 'aligned' | 'reset';
  /** The newest WAL file found in streaming/. */
  newest: string | null;
  /** The empty `<restart WAL>.partial` created. */
  created: string | null;
  /** An empty `.partial` removed. */
  removed: string | null;
  /** A `.partial` with data kept in place: archive-wal archives it as a .partial file. */
  kept: string | null;
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
    const status = await streamingStatus(env, options.reset);
    if (options.reset) return await resetStreamingStatus(env, status);
    const truncated = await truncatePartialIfNeeded(env, status.segmentSize);
    return await runReceiver(env, status, truncated);
  } finally {
    lock.release();
  }
}

/** Barman's sanity checks: replication connection, pg_receivewal and its version, the slot. */
async function streamingStatus(env: ReceiverEnvironment, reset: boolean): Promise<StreamingStatus> {
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

  const programName =
    identity.serverVersion > 0 && identity.serverVersion < 100000 ? 'pg_receivexlog' : 'pg_receivewal';
  const program = await findProgram(programName, config.path_prefix);
  if (!program) {
    throw new BarmanError('pg-receivewal-missing', `${programName} not present in path_prefix or $PATH`, {
      hint: "Install the PostgreSQL client programs of the server's version, or set path_prefix to their directory.",
    });
  }
  const tool = await postgresToolVersion(program);
  const serverMajor = majorVersionNumber(identity.serverVersion);
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

  const client = await PostgresClient.connect(config.conninfo);
  let segmentSize: number;
  let synchronous: boolean;
  let slot: ReplicationSlot | null = null;
  try {
    segmentSize = await walSegmentSize(client);
    const names = await synchronousStandbyNames(client);
    synchronous = names.includes('*') || names.includes(config.streaming_archiver_name);
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
    timeline: identity.timeline,
    xlogpos: identity.xlogpos,
    segmentSize,
    synchronous,
    slot,
    slotCreated,
  };
}

async function createSlotQuietly(config: ServerConfig, slot: string): Promise<void> {
  try {
    await createReplicationSlot(config.streaming_conninfo, slot);
  } catch (error) {
    // Created meanwhile by someone else: fine, pg_receivewal reports if it is in use.
    if (error instanceof ReplicationSlotError && error.failure === 'exists') return;
    throw new BarmanError(
      'slot-create-failed',
      `Cannot create replication slot '${slot}' on server '${config.name}': ${describeError(error)}`,
      { cause: error },
    );
  }
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
    exit = await superviseProgram(status.program, args, {
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

/** The newest file of the given kinds in streaming/ (pg_receivewal resumes from it), or null. */
async function newestWal(
  directory: string,
  kinds: ReadonlyArray<'segment' | 'partial'>,
): Promise<string | null> {
  const names = (await readdir(directory)).filter((name) => {
    const kind = parseWalName(name)?.kind;
    return kind !== undefined && (kinds as readonly string[]).includes(kind);
  });
  return names.sort(compareWalNames).at(-1) ?? null;
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

export type ResetPlan =
  | { action: 'aligned'; newest: string | null }
  | { action: 'ahead'; newest: string }
  | { action: 'reset'; newest: string | null; restartWal: string };

/**
 * What `--reset` does, from the newest WAL file of streaming/ (segment or .partial, or null), the
 * segment the slot restarts from (the server's current one without a slot) and the server's
 * current segment:
 * - nothing when streaming/ is empty or at or after the restart point: pg_receivewal resumes from
 *   its newest file, which the server still keeps;
 * - refuse when streaming/ is ahead of the server (another cluster, or the server was restored);
 * - otherwise streaming/ is behind what the server keeps, and pg_receivewal would fail asking for
 *   removed WAL: an empty `<restart WAL>.partial` makes it start at the restart point.
 */
export function resetPlan(newest: string | null, restartWal: string, currentWal: string): ResetPlan {
  if (newest === null) return { action: 'aligned', newest };
  const segment = newest.slice(0, 24);
  if (compareWalNames(segment, currentWal) > 0) return { action: 'ahead', newest };
  if (compareWalNames(segment, restartWal) >= 0) return { action: 'aligned', newest };
  return { action: 'reset', newest, restartWal };
}

async function resetStreamingStatus(
  env: ReceiverEnvironment,
  status: StreamingStatus,
): Promise<ResetOutcome> {
  const { config, report } = env;
  const directory = config.streaming_wals_directory;
  const currentWal = lsnToSegmentName(parseLsn(status.xlogpos), status.timeline, status.segmentSize);
  const restartLsn = status.slot?.restart_lsn ?? null;
  const restartWal = restartLsn
    ? lsnToSegmentName(parseLsn(restartLsn), status.timeline, status.segmentSize)
    : currentWal;
  const newest = await newestWal(directory, ['segment', 'partial']);
  const plan = resetPlan(newest, restartWal, currentWal);
  const outcome: ResetOutcome = {
    mode: 'reset',
    action: 'aligned',
    newest,
    created: null,
    removed: null,
    kept: null,
  };
  if (plan.action === 'aligned') {
    report.info('Nothing to do. Position of receive-wal is aligned.');
    return outcome;
  }
  if (plan.action === 'ahead') {
    throw new BarmanError(
      'receive-wal-ahead',
      `The receive-wal position is ahead of PostgreSQL current WAL lsn (${plan.newest} > ${currentWal})`,
      {
        hint: `streaming/ does not match this server (another cluster, or a restored one): move its files away, then run receive-wal --reset ${config.name} again.`,
      },
    );
  }
  report.info('Resetting receive-wal directory status');
  outcome.action = 'reset';
  if (newest && parseWalName(newest)?.kind === 'partial') {
    const path = join(directory, newest);
    if ((await stat(path)).size === 0) {
      report.info(`Removing status file ${path}`);
      await unlink(path);
      outcome.removed = path;
    } else {
      // Unlike Barman, which deletes it: its WAL is not anywhere else. With a newer .partial next
      // to it, archive-wal archives it as a .partial file.
      report.info(`Keeping ${path}: archive-wal will archive it as a partial WAL file`);
      outcome.kept = path;
    }
  }
  const created = join(directory, partialFileName(restartWal));
  report.info(`Creating status file ${created}`);
  await writeFile(created, '', { flag: 'wx' });
  outcome.created = created;
  if (newest) {
    const firstMissing =
      parseWalName(newest)?.kind === 'partial'
        ? newest.slice(0, 24)
        : nextSegmentName(newest, status.segmentSize);
    if (compareWalNames(firstMissing, restartWal) < 0) {
      report.warning(
        `WAL from ${firstMissing} to ${previousSegmentName(restartWal, status.segmentSize)} is skipped: ` +
          `streaming resumes at ${restartWal}. Unless archive_command delivered those files, point-in-time ` +
          'recovery across them is impossible: take a new backup',
      );
    }
  }
  return outcome;
}
