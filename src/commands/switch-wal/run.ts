/**
 * switch-wal: pg_switch_wal() on each server (after a CHECKPOINT with --force, so that an idle
 * server has something to switch), then with --archive run archive-wal in this process until the
 * closed WAL file is in the archive or --archive-timeout seconds have passed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { catalogLayout } from '../../catalog/layout.js';
import type { ServerConfig, ServerEntry } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import { archiveHooks, HookRunner } from '../../hooks/index.js';
import { LockBusyError } from '../../locks/index.js';
import {
  canCheckpoint,
  checkpoint,
  currentUser,
  hasBackupPrivileges,
  isInRecovery,
  PostgresClient,
  switchWal,
} from '../../postgres/index.js';
import type { WalArchive } from '../../wal/archive.js';
import { openWalArchive } from '../../wal/archive.js';
import { runArchiveWal } from '../../wal/archive-service.js';
import { isSegmentName } from '../../wal/names.js';
import { readWalIndex } from '../../wal/wal-index.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

interface SwitchOutcome {
  /** The WAL file closed by the switch, or null (no switch needed, standby, failure). */
  closed_wal: string | null;
  standby: boolean;
  /** With --archive: whether the awaited WAL file arrived in time; null without --archive. */
  archived: boolean | null;
  error: string | null;
}

type Result = Record<string, SwitchOutcome>;

/** Pause between two archive-wal runs while waiting. */
const POLL_MS = 100;

export default defineCommandModule<Result>({
  async run(ctx, input) {
    // A number of seconds, checked by the CLI (integer: SECONDS).
    const archiveTimeout = Number(input.options.archiveTimeout ?? 30);
    const servers = selectServers(ctx, input.args.server_name as string[], {
      allowAll: true,
      includeInactive: false,
      includeDisabled: false,
    }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const result: Result = {};
    for (const server of servers) {
      const outcome = await switchOne(ctx, server, input.options.force === true);
      result[server.name] = outcome;
      if (input.options.archive === true && outcome.error === null) {
        outcome.archived = await waitForWal(ctx, server, outcome.closed_wal, archiveTimeout);
      }
    }
    return result;
  },
  renderConsole: () => [],
  // Barman 3.4's document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});

/**
 * On a standby with `primary_conninfo` the switch happens on the primary (as Barman does), so
 * that the standby receives and archives the closed file; CHECKPOINT still runs where conninfo
 * points.
 */
async function switchOne(ctx: CommandContext, server: ServerEntry, force: boolean): Promise<SwitchOutcome> {
  const name = server.name;
  const outcome: SwitchOutcome = { closed_wal: null, standby: false, archived: null, error: null };
  const fail = (message: string): SwitchOutcome => {
    ctx.report.error(message);
    outcome.error = message;
    return outcome;
  };
  const clients: PostgresClient[] = [];
  const connect = async (conninfo: string) => {
    const client = await PostgresClient.connect(conninfo);
    clients.push(client);
    return client;
  };
  try {
    const client = await connect(server.config.conninfo);
    if (force) {
      if (!(await canCheckpoint(client))) return fail('Barman switch-wal requires superuser rights');
      ctx.log.info(`Force a CHECKPOINT before pg_switch_wal() on server ${name}`);
      await checkpoint(client);
    }
    const primary = server.config.primary_conninfo ? await connect(server.config.primary_conninfo) : client;
    if (!(await hasBackupPrivileges(primary))) {
      return fail(
        `Postgres user '${await currentUser(primary)}' is missing required privileges ` +
          `(see "Preliminary steps" in the Barman manual)`,
      );
    }
    if (await isInRecovery(primary)) {
      ctx.report.info(`No switch performed because server '${name}' is a standby.`);
      outcome.standby = true;
      return outcome;
    }
    const { closed } = await switchWal(primary);
    if (closed) {
      ctx.report.info(`The WAL file ${closed} has been closed on server '${name}'`);
      outcome.closed_wal = closed;
    } else {
      ctx.report.info(`No switch required for server '${name}'`);
    }
    return outcome;
  } catch (error) {
    return fail(`Unable to perform pg_switch_wal for server '${name}': ${describeError(error)}`);
  } finally {
    for (const client of clients) await client.close();
  }
}

/**
 * Runs archive-wal until `wal` is in the server's WAL archive, wherever it lives (or, when no WAL
 * was closed, until any new WAL file is archived on any timeline). A concurrent archive-wal
 * (cron, the cloud upload worker) holding the lock is fine: its work is what we wait for.
 */
async function waitForWal(
  ctx: CommandContext,
  server: ServerEntry,
  wal: string | null,
  timeoutSeconds: number,
): Promise<boolean> {
  const name = server.name;
  const max = timeoutSeconds ? ` (max: ${timeoutSeconds} seconds)` : '';
  const archive = await openWalArchive(server.config);
  try {
    const initial = wal ? null : await latestPerTimeline(server.config);
    if (wal) ctx.report.info(`Waiting for the WAL file ${wal} from server '${name}'${max}`);
    else ctx.report.info(`Waiting for a WAL file from server '${name}' to be archived${max}`);
    const log = ctx.log.child({ server: name });
    const hooks = archiveHooks(HookRunner.forServer(ctx, server.config));
    const deadline = timeoutSeconds ? Date.now() + timeoutSeconds * 1000 : Infinity;
    while (Date.now() < deadline) {
      try {
        await runArchiveWal(server.config, ctx.report, log, { hooks });
      } catch (error) {
        if (!(error instanceof LockBusyError)) throw error;
        log.debug('archive-wal is running in another process; waiting for it');
      }
      if (await arrived(archive, server.config, wal, initial)) return true;
      await sleep(POLL_MS);
    }
  } finally {
    archive.close();
  }
  if (wal) ctx.report.error(`The WAL file ${wal} has not been received in ${timeoutSeconds} seconds`);
  else ctx.report.info(`A WAL file has not been received in ${timeoutSeconds} seconds`);
  return false;
}

async function arrived(
  archive: WalArchive,
  config: ServerConfig,
  wal: string | null,
  initial: string | null,
): Promise<boolean> {
  return wal ? (await archive.find(wal)).length > 0 : (await latestPerTimeline(config)) !== initial;
}

/** The newest archived WAL segment of each timeline (the WAL index), as one comparable string. */
async function latestPerTimeline(config: ServerConfig): Promise<string> {
  const { entries } = await readWalIndex(config, await catalogLayout(config));
  const latest = new Map<string, string>();
  for (const { name } of entries) {
    if (!isSegmentName(name)) continue;
    const timeline = name.slice(0, 8);
    if ((latest.get(timeline) ?? '') < name) latest.set(timeline, name);
  }
  return [...latest.values()].sort().join(',');
}
