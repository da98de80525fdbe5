/**
 * One restore drill, step by step: the disk-space cap, the recovery (THE recovery of
 * recovery/recover.ts, into a private directory, tablespaces relocated into it), the WAL it
 * could not reach, pg_verifybackup, PostgreSQL started until recovery ends, pg_amcheck, the
 * probe; then PostgreSQL stopped and the directory removed, whatever happened. A failed step
 * ends the drill (the later ones are skipped); every step is timed for the result.
 */
import type { CatalogBackup } from '../../catalog/backups.js';
import type { DrillResult, DrillStep } from '../../catalog/drills.js';
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError, describeError } from '../../errors/index.js';
import { archiveHooks, HookRunner } from '../../hooks/index.js';
import { prettySize } from '../../output/format.js';
import { parseConnInfo } from '../../postgres/conninfo.js';
import type { PostgresClient } from '../../postgres/client.js';
import { bootstrapSuperuser, connectDrill, probeTime, recoveryState } from '../../postgres/drill.js';
import { catalogueAreas } from '../../recovery/protected-paths.js';
import { recover } from '../../recovery/recover.js';
import { stagingRoot } from '../../recovery/request.js';
import type { RecoveryTargets } from '../../recovery/targets.js';
import type { CommandContext } from '../definition.js';
import { loadAnyServerCatalog } from '../shared/backup-catalog.js';
import type { DrillPrograms } from '../shared/drill-programs.js';
import { amcheck, probeVerdict, verifyBackup } from './checks.js';
import type { DrillDirectory } from './instance.js';
import {
  createDrillDirectory,
  DrillPostgres,
  fileExists,
  freeBytes,
  removeDrillDirectory,
} from './instance.js';

export interface DrillRequest {
  config: ServerConfig;
  backup: CatalogBackup & { info: BackupInfo };
  /** The backup and the chain it needs (an incremental's parents): their sizes bound the copy. */
  chainBytes: number;
  targets: RecoveryTargets;
  targetText: string;
  programs: DrillPrograms;
  drillBase: string;
}

class StepFailed extends Error {}

export async function runDrill(ctx: CommandContext, request: DrillRequest): Promise<DrillResult> {
  const { config, backup } = request;
  const started = new Date();
  const steps: DrillStep[] = [];
  /**
   * A step that fails ends the drill, unless it is a check (`going on`): the checks of a copy
   * that exists all run, so that a damaged file pg_verifybackup names is also found by
   * pg_amcheck, which names the relation and block.
   */
  const step = async (name: string, work: () => Promise<string>, goingOn = false): Promise<void> => {
    const begin = Date.now();
    try {
      const detail = await work();
      steps.push({ name, status: 'ok', detail, seconds: (Date.now() - begin) / 1000 });
      ctx.report.info(`restore drill: ${name}: ${detail}`);
    } catch (error) {
      const detail = describeError(error);
      steps.push({ name, status: 'failed', detail, seconds: (Date.now() - begin) / 1000 });
      ctx.report.info(`restore drill: ${name}: FAILED: ${detail}`);
      if (!goingOn || interrupted) throw new StepFailed(detail);
    }
  };
  const skip = (name: string, detail: string) => {
    steps.push({ name, status: 'skipped', detail, seconds: 0 });
    ctx.report.info(`restore drill: ${name}: skipped (${detail})`);
  };

  let directory: DrillDirectory | null = null;
  let postgres: DrillPostgres | null = null;
  let interrupted: NodeJS.Signals | null = null;
  const interrupt = (signal: NodeJS.Signals) => {
    interrupted ??= signal;
    postgres?.killNow();
  };
  const onExit = () => postgres?.killNow();
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  process.on('exit', onExit);
  const checkInterrupted = () => {
    if (interrupted) throw new BarmanError('interrupted', `restore drill interrupted by ${interrupted}`);
  };
  try {
    await step('space', async () => {
      const free = await freeBytes(request.drillBase);
      const needed = Math.ceil((request.chainBytes * config.restore_drill_space_margin) / 100);
      const sizes = `backup size ${prettySize(request.chainBytes)} x restore_drill_space_margin ${config.restore_drill_space_margin}% = ${prettySize(needed)}`;
      if (free < needed)
        throw new BarmanError(
          'drill-no-space',
          `not enough free space at ${request.drillBase}: ${prettySize(free)} free, the drill needs ${sizes}`,
        );
      return `${prettySize(free)} free at ${request.drillBase}, needs ${sizes}`;
    });
    directory = await createDrillDirectory(request.drillBase, config.name);
    const where = directory;
    let walDirectory: string | null = null;
    await step('recover', async () => {
      const hooks = HookRunner.forServer(ctx, config);
      const outcome = await recover(
        {
          config,
          backupReference: backup.id,
          destination: where.data,
          remoteCommand: null,
          tablespaceRules: (backup.info.tablespaces ?? []).map(
            (t) => `${t.name}:${where.tablespace(t.name)}`,
          ),
          targets: request.targets,
          getWal: false,
          delta: false,
          dryRun: false,
          staging: stagingRoot(config, undefined),
          areas: catalogueAreas(ctx.config),
        },
        {
          report: ctx.report,
          log: ctx.log,
          loadCatalog: () => loadAnyServerCatalog(config, ctx.report),
          archiveHooks: archiveHooks(hooks),
          getWalCommand: () => Promise.reject(new Error('a restore drill copies the WAL')),
          // Recovery hooks are for real recoveries: a drill does not run them.
          preRecovery: () => Promise.resolve(),
          postRecovery: () => Promise.resolve(),
        },
      );
      checkInterrupted();
      const { selection } = outcome.plan.wal;
      if (selection.gap)
        throw new BarmanError(
          'drill-wal-gap',
          `WAL file ${selection.gap.missing} is missing from the archive: recovery cannot replay past ${selection.gap.after}`,
        );
      const copied = `${outcome.plan.destination}/barman_wal`;
      walDirectory = fileExists(copied) ? copied : null;
      const result = outcome.result!;
      return `${result.files} files, ${prettySize(result.bytes)} and ${result.walFiles} WAL files into ${where.data} in ${outcome.elapsedSeconds.toFixed(1)} s`;
    });

    const manifest = `${where.data}/backup_manifest.${backup.id}`;
    if (!fileExists(manifest)) skip('verifybackup', 'the backup has no backup_manifest');
    else if (!request.programs.verifybackup)
      skip('verifybackup', `pg_verifybackup ${request.programs.major} or later not found`);
    else {
      const program = request.programs.verifybackup;
      await step(
        'verifybackup',
        async () => {
          const verdict = await verifyBackup(program, where.data, manifest, walDirectory);
          if (!verdict.ok) throw new BarmanError('drill-verifybackup', verdict.detail);
          return verdict.detail;
        },
        true,
      );
    }

    let superuser = '';
    await step('start', async () => {
      const begin = Date.now();
      postgres = await DrillPostgres.start(request.programs.postgres, where);
      superuser = await waitForEndOfRecovery(postgres, where, config, begin);
      return `PostgreSQL ${request.programs.major} on 127.0.0.1:${postgres.port} ended recovery in ${((Date.now() - begin) / 1000).toFixed(1)} s`;
    });
    const running = postgres!;
    await step(
      'amcheck',
      async () => {
        const verdict = await amcheck(request.programs.amcheck, {
          socket: where.socket,
          port: running.port,
          user: superuser,
        });
        if (!verdict.ok) throw new BarmanError('drill-amcheck', verdict.detail);
        return verdict.detail;
      },
      true,
    );
    const sql = config.restore_drill_probe;
    if (sql === null) skip('probe', 'restore_drill_probe is not set');
    else
      await step(
        'probe',
        async () => {
          const client = await connectDrill(
            where.socket,
            running.port,
            superuser,
            config.restore_drill_probe_database,
          );
          let valueMs: number | null;
          try {
            valueMs = await probeTime(client, sql);
          } finally {
            await client.close();
          }
          const target = request.targets.target;
          const [referenceMs, referenceName] =
            target.kind === 'time'
              ? [target.epochMs, 'the target time']
              : [backup.info.end_time!.epochMs, 'the backup end'];
          const verdict = probeVerdict(
            valueMs,
            referenceMs,
            config.restore_drill_probe_max_age,
            referenceName,
          );
          if (!verdict.ok) throw new BarmanError('drill-probe-stale', verdict.detail);
          return verdict.detail;
        },
        true,
      );
  } catch (error) {
    if (!(error instanceof StepFailed)) {
      steps.push({ name: 'drill', status: 'failed', detail: describeError(error), seconds: 0 });
    }
  } finally {
    const cleanupBegin = Date.now();
    const problems: string[] = [];
    await (postgres as DrillPostgres | null)
      ?.stop()
      .catch((error: unknown) => problems.push(describeError(error)));
    if (directory)
      await removeDrillDirectory(directory).catch((error: unknown) => problems.push(describeError(error)));
    steps.push({
      name: 'cleanup',
      status: problems.length === 0 ? 'ok' : 'failed',
      detail: problems.length === 0 ? 'PostgreSQL stopped, drill directory removed' : problems.join('; '),
      seconds: (Date.now() - cleanupBegin) / 1000,
    });
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
    process.off('exit', onExit);
  }
  const failed = steps.find((entry) => entry.status === 'failed');
  const ended = new Date();
  return {
    backup_id: backup.id,
    status: failed ? 'failed' : 'ok',
    started_at: started.toISOString(),
    ended_at: ended.toISOString(),
    duration_seconds: (ended.getTime() - started.getTime()) / 1000,
    target: request.targetText,
    error: failed ? `${failed.name}: ${failed.detail}` : null,
    steps,
  };
}

/**
 * Polls until PostgreSQL accepts a session and says recovery has ended; fails as soon as it
 * exits (its log says why: a WAL file it could not find, a damaged page during replay), or
 * when restore_drill_timeout has passed since `startedMs` (a recovery paused by PostgreSQL, a
 * replay that never ends), saying how far it got. Returns the bootstrap superuser, found
 * through a role the copy is known to have.
 */
async function waitForEndOfRecovery(
  postgres: DrillPostgres,
  directory: DrillDirectory,
  config: ServerConfig,
  startedMs: number,
): Promise<string> {
  const deadline = startedMs + config.restore_drill_timeout * 1000;
  const candidates = [
    ...new Set(
      [config.conninfo ? parseConnInfo(config.conninfo).get('user') : undefined, 'postgres'].filter(
        (user): user is string => Boolean(user),
      ),
    ),
  ];
  let superuser: string | null = null;
  let lastError = 'not reached yet';
  let progress: string | null = null;
  for (;;) {
    const ended = postgres.ended;
    if (ended) throw new BarmanError('drill-postgres', ended);
    if (Date.now() >= deadline)
      throw new BarmanError(
        'drill-timeout',
        `PostgreSQL did not end its recovery within restore_drill_timeout (${config.restore_drill_timeout} s): ` +
          `${progress ?? `it accepted no session (${lastError})`}; its log: ${postgres.logTail()}`,
      );
    let client: PostgresClient | null = null;
    try {
      for (const user of superuser ? [superuser] : candidates) {
        try {
          client = await connectDrill(directory.socket, postgres.port, user, 'template1');
          break;
        } catch (error) {
          lastError = describeError(error);
        }
      }
      if (client) {
        superuser ??= await bootstrapSuperuser(client);
        const state = await recoveryState(client);
        if (state.ended) return superuser;
        progress = `still in recovery, WAL replayed up to ${state.replayedLsn ?? 'nothing yet'}${state.paused ? ', replay paused' : ''}`;
      } else if (/role .* does not exist/.test(lastError) && !/starting up|recovery/.test(lastError)) {
        throw new BarmanError(
          'drill-superuser',
          `cannot connect to the recovered copy as ${candidates.join(' or ')}: ${lastError}`,
          { hint: "set 'user=' in the server's conninfo to a superuser of the backed-up cluster" },
        );
      }
    } finally {
      await client?.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
