/**
 * `barman check` for one server: Barman 3.4's checks in Barman's order, with its names and
 * hints, under `check_timeout` for the whole server. Used by the `check` command (all results)
 * and meant for the pre-backup check (critical results only, see isCritical).
 *
 * Order: WAL archive and queues; PostgreSQL (connection, privileges, streaming, wal_level,
 * replication slot, standby); with wal_streaming_conninfo / wal_conninfo, the same checks on those
 * connections (`... (WAL streaming)`, see wal-streaming-checks.ts); directories (and the cloud
 * staging directory of backups to object storage); retention policy; backup age and size; WAL age and
 * size; compression; encryption (encryption-checks.ts); failed backups; minimum redundancy; the backup method's checks (ssh or local
 * PGDATA, backup strategy, pg_basebackup); configuration; systemid coherence; the streaming then
 * the file archiver; archiver errors.
 *
 * Each module contributes its checks from a file of its own (context.ts holds what they share):
 * wal-archive-checks.ts, postgres-checks.ts, wal-streaming-checks.ts, catalog-checks.ts,
 * retention-checks.ts, receive-wal-checks.ts, cloud-checks.ts, object-lock-checks.ts, cloud-staging-checks.ts; the backup
 * method's checks come from its executor (executors/index.ts, backupMethodChecks). SERVER_CHECKS
 * below is the order.
 */
import type { ServerEntry } from '../../../config/index.js';
import { describeError } from '../../../errors/index.js';
import { backupMethodChecks } from '../../../executors/index.js';
import {
  backupValidityChecks,
  configurationCheck,
  directoriesCheck,
  directoryPermissionsCheck,
  failedBackupsCheck,
  identityChecks,
  walValidityChecks,
} from './catalog-checks.js';
import { runCloudWalChecks } from './cloud-checks.js';
import { encryptionCheck } from './encryption-checks.js';
import { objectLockCheck, objectLockLocations } from './object-lock-checks.js';
import { cloudStagingCheck, usesCloudStaging } from './cloud-staging-checks.js';
import type { ServerCheckOptions } from './context.js';
import { CheckContext } from './context.js';
import { postgresChecks } from './postgres-checks.js';
import { streamingArchiverChecks } from './receive-wal-checks.js';
import type { CheckResult } from './results.js';
import { CheckCollector } from './results.js';
import { minimumRedundancyCheck, retentionPolicyCheck } from './retention-checks.js';
import { pageChecksumsCheck } from './page-checksum-checks.js';
import { concernsDrills, restoreDrillCheck } from './restore-drill-checks.js';
import {
  archiverErrorsCheck,
  compressionCheck,
  fileArchiverChecks,
  walArchiveCheck,
  walQueueCheck,
} from './wal-archive-checks.js';
import { runWalStreamingChecks } from './wal-streaming-checks.js';
import { hasWalConnections } from '../wal-connections.js';
import { isPassive } from '../passive/state.js';
import { isMirror } from '../mirror/state.js';
import type { PassiveConfig } from '../passive/state.js';
import { runRemote } from '../../../process/remote.js';

export type { ServerCheckOptions } from './context.js';
export { summariseErrorFiles } from './wal-archive-checks.js';

export interface ServerCheckReport {
  server: string;
  active: boolean;
  disabled: boolean;
  results: CheckResult[];
}

export const TIMEOUT_CHECK = 'check timeout';

/** Runs every check of `entry`; never throws (a check that breaks is reported as failed). */
export async function runServerChecks(
  entry: ServerEntry,
  options: ServerCheckOptions,
): Promise<ServerCheckReport> {
  const log = options.log.child({ server: entry.name });
  const collector = new CheckCollector(entry.name, log);
  const controller = new AbortController();
  const ctx = new CheckContext(entry, collector, controller.signal, log, options);
  const work = runAll(ctx);
  let timer: NodeJS.Timeout | undefined;
  try {
    if (options.timeoutSeconds > 0) {
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), options.timeoutSeconds * 1000);
      });
      if ((await Promise.race([work.then(() => 'done' as const), timedOut])) === 'timeout') {
        log.debug(`Check command timed out executing '${collector.running ?? 'unknown'}' check`);
        collector.close({ name: TIMEOUT_CHECK, ok: false, hint: 'barman check command timed out' });
        controller.abort();
        // The interrupted check settles in the background; its results are dropped.
        work.catch(() => undefined);
      }
    } else {
      await work;
    }
  } finally {
    clearTimeout(timer);
  }
  collector.close();
  return {
    server: entry.name,
    active: entry.config.active !== false,
    disabled: entry.disabled,
    results: collector.results,
  };
}

/** One step of the check: a module's check(s), skipped when `when` says they do not apply. */
interface CheckStep {
  run: (ctx: CheckContext) => Promise<void>;
  when?: (ctx: CheckContext) => boolean;
  /** Also run on a passive node (which never connects to PostgreSQL), as Barman does. */
  passive?: true;
}

/** Every check, in Barman's order (a step that throws is reported as failed; the next one runs). */
const SERVER_CHECKS: readonly CheckStep[] = [
  { run: walArchiveCheck, passive: true },
  {
    run: (ctx) => runCloudWalChecks(ctx.config, ctx.c, ctx.signal),
    when: (ctx) => ctx.config.wals_directory.kind === 's3',
  },
  { run: objectLockCheck, when: (ctx) => objectLockLocations(ctx).length > 0, passive: true },
  { run: (ctx) => walQueueCheck(ctx, 'incoming') },
  { run: (ctx) => walQueueCheck(ctx, 'streaming') },
  { run: postgresChecks },
  {
    run: (ctx) => runWalStreamingChecks(ctx.config, ctx.c, { log: ctx.log, signal: ctx.signal }),
    when: (ctx) => hasWalConnections(ctx.config),
  },
  { run: directoriesCheck, passive: true },
  { run: directoryPermissionsCheck, passive: true },
  { run: cloudStagingCheck, when: usesCloudStaging },
  { run: retentionPolicyCheck, passive: true },
  { run: backupValidityChecks, passive: true },
  { run: walValidityChecks, passive: true },
  { run: compressionCheck, passive: true },
  { run: encryptionCheck, when: (ctx) => ctx.config.encryption === 'gpg' },
  {
    run: async (ctx) => {
      await failedBackupsCheck(ctx);
      await minimumRedundancyCheck(ctx);
    },
    passive: true,
  },
  { run: primarySshCheck, when: (ctx) => isPassive(ctx.config), passive: true },
  {
    run: async (ctx) => {
      for (const check of backupMethodChecks(ctx.config)) await check(ctx);
    },
  },
  { run: configurationCheck },
  { run: identityChecks },
  { run: streamingArchiverChecks, when: (ctx) => ctx.config.streaming_archiver },
  { run: fileArchiverChecks, when: (ctx) => ctx.config.archiver },
  { run: archiverErrorsCheck, passive: true },
  { run: pageChecksumsCheck, passive: true },
  { run: restoreDrillCheck, when: concernsDrills },
];

/** A passive node's only connection: primary_ssh_command reaches the primary Barman host. */
async function primarySshCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start('ssh');
  const config = ctx.config as PassiveConfig;
  const result = await runRemote(config.primary_ssh_command, ['true'], 60_000).catch((error: unknown) => ({
    exitCode: -1,
    stdout: '',
    stderr: describeError(error),
  }));
  if (result.exitCode !== 0) {
    const detail = result.stderr.trim().split('\n').at(-1) ?? '';
    ctx.c.add(
      'ssh',
      false,
      `Connection failed using '${config.primary_ssh_command}' return code ${result.exitCode}${detail ? `: ${detail}` : ''}`,
    );
    return;
  }
  ctx.c.add('ssh', true, 'primary Barman server');
}

async function runAll(ctx: CheckContext): Promise<void> {
  // A mirror, like a passive node, never connects to PostgreSQL: only its catalogue is checked.
  const passive = isPassive(ctx.config) || isMirror(ctx.config);
  for (const step of SERVER_CHECKS) {
    if (passive && !step.passive) continue;
    if (step.when && !step.when(ctx)) continue;
    await runStep(ctx, step.run);
  }
}

/** A check that throws is reported as failed under the name it was running, never crashes check. */
async function runStep(ctx: CheckContext, check: (ctx: CheckContext) => Promise<void>): Promise<void> {
  if (ctx.c.isClosed) return;
  try {
    await check(ctx);
  } catch (error) {
    if (ctx.c.isClosed) return;
    const name = ctx.c.running ?? 'check';
    ctx.log.error(`check '${name}' raised an error`, { error: describeError(error) });
    ctx.c.add(name, false, describeError(error));
  }
}
