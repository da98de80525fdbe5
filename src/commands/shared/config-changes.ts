/**
 * The files behind config-update and config-switch: the change queue (`config_changes_queue`),
 * `<barman_home>/.barman.auto.conf` and a server's `.active-model.auto`, each replaced
 * atomically (writeFileDurably). The queue is processed under `.config-update.lock` in the lock
 * directory, by config-update and at the start of every cron, as Barman does; a set of changes
 * leaves the queue only after .barman.auto.conf holds it, so a kill in between applies it twice
 * (the same values), never loses it.
 */
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { BarmanConfig, ServerConfig } from '../../config/index.js';
import {
  activeModelFile,
  AUTO_CONF_NAME,
  loadConfig,
  parseQueue,
  serializeQueue,
  setIniOption,
} from '../../config/index.js';
import type { ConfigChangeSet } from '../../config/index.js';
import { acquireLock, ensureLockDirectory } from '../../locks/index.js';
import type { Reporter } from '../../output/reporter.js';
import { fsyncDirectory, writeFileDurably } from '../../storage/durable-files.js';
import { pythonStr } from '../../output/format.js';
import { redactSecrets } from '../../util/redact.js';
import type { CommandContext } from '../definition.js';
import { stopReceiver } from '../receive-wal/receiver.js';
import { superviseReceiveWal } from '../receive-wal/supervise.js';

/** Barman's lock of config-update and of cron's queue processing. */
export const CONFIG_UPDATE_LOCK = '.config-update.lock';

export function autoConfFile(config: BarmanConfig): string {
  return join(config.global.barman_home, AUTO_CONF_NAME);
}

async function readTextIfAny(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

/**
 * Appends `incoming` to the queue and writes every queued change into .barman.auto.conf, under
 * the config-update lock (busy: LockBusyError). Returns the sections changed.
 */
export async function processConfigChanges(
  config: BarmanConfig,
  report: Reporter,
  incoming: readonly ConfigChangeSet[] = [],
): Promise<string[]> {
  const lockDirectory = config.global.barman_lock_directory;
  await ensureLockDirectory(lockDirectory);
  const lock = await acquireLock(join(lockDirectory, CONFIG_UPDATE_LOCK), {
    busyMessage: 'another process is updating barman configuration files',
  });
  try {
    const queueFile = config.global.config_changes_queue;
    const queue = parseQueue(await readTextIfAny(queueFile), queueFile);
    if (incoming.length > 0) {
      queue.push(...incoming);
      await writeFileDurably(queueFile, serializeQueue(queue));
    }
    const changed: string[] = [];
    const target = autoConfFile(config);
    while (queue.length > 0) {
      const set = queue[0]!;
      let text = await readTextIfAny(target);
      for (const change of set.changes_set) {
        text = setIniOption(text, set.section, change.key, change.value);
        report.info(
          redactSecrets(
            `Changing value of option '${change.key}' for section '${set.section}' from '${currentValue(config, set.section, change.key)}' to '${change.value}' through config-update.`,
          ),
        );
      }
      await writeFileDurably(target, text);
      queue.shift();
      await writeFileDurably(queueFile, serializeQueue(queue));
      changed.push(set.section);
    }
    return [...new Set(changed)];
  } finally {
    lock.release();
  }
}

function currentValue(config: BarmanConfig, section: string, key: string): string {
  const server = config.servers.get(section);
  const value = server
    ? (server.config as unknown as Record<string, unknown>)[key]
    : config.models.get(section)?.options[key];
  return pythonStr(value ?? null);
}

/** Writes the model name config-switch made active (Barman's format: the bare name). */
export async function writeActiveModel(config: ServerConfig, model: string): Promise<void> {
  // A server with no backup yet may have no directory yet: it is created as backup creates it.
  await mkdir(config.backup_directory, { recursive: true, mode: 0o700 });
  await writeFileDurably(activeModelFile(config.backup_directory), model);
}

/** Removes the active model file; false when there was none. */
export async function removeActiveModel(config: ServerConfig): Promise<boolean> {
  try {
    await unlink(activeModelFile(config.backup_directory));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
  await fsyncDirectory(config.backup_directory);
  return true;
}

/** The configuration as it is on disk now (after a change), from the same main file. */
export function reloadConfig(config: BarmanConfig): BarmanConfig {
  return loadConfig({ configFile: config.configFile });
}

/**
 * Barman restarts a server's processes after its configuration changed: a running receive-wal is
 * stopped, and one is started with the new values whenever streaming_archiver is on — also when
 * none ran (after a failover the old one has usually died with the old primary).
 */
export async function restartServerProcesses(ctx: CommandContext, server: ServerConfig): Promise<void> {
  const stopped = await stopReceiver(server, 10_000);
  if (stopped && !stopped.stopped) {
    ctx.report.error(`Cannot terminate process receive-wal(${stopped.pid})`);
    return;
  }
  if (stopped) ctx.report.info(`Stopped process receive-wal(${stopped.pid})`);
  if (server.streaming_archiver) await superviseReceiveWal(ctx, server);
}
