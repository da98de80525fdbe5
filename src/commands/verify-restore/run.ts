/**
 * verify-restore: a restore drill of one backup (drill.ts), one at a time on this catalogue
 * host (a lock: each drill needs a backup's worth of disk), its result recorded beside the
 * server's catalogue (catalog/drills.ts) and rendered. A failed drill exits 1.
 */
import { getPriority, setPriority } from 'node:os';
import type { BackupInfo } from '../../catalog/backup-info.js';
import type { CatalogBackup } from '../../catalog/backups.js';
import type { DrillResult } from '../../catalog/drills.js';
import { recordDrillResult } from '../../catalog/drills.js';
import { withBackupStore } from '../../catalog/store.js';
import { resolveChain } from '../../recovery/chain.js';
import { BarmanError, describeError } from '../../errors/index.js';
import { ensureLockDirectory, lockHolder, tryAcquireLock } from '../../locks/index.js';
import { runProgramUnchecked } from '../../process/index.js';
import { catalogueAreas } from '../../recovery/protected-paths.js';
import { chooseBackup } from '../../recovery/request.js';
import { describeTargets, parseRecoveryTargets } from '../../recovery/targets.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { loadAnyServerCatalog } from '../shared/backup-catalog.js';
import { selectServers } from '../shared/select-servers.js';
import { targetOptionValues } from '../recover/index.js';
import { runDrill } from './drill.js';
import { drillBaseDirectory, findDrillPrograms } from '../shared/drill-programs.js';

interface Result {
  server: string;
  result: DrillResult;
  recordedIn: string | null;
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const serverName = input.args.server_name as string;
    const [server] = selectServers(ctx, [serverName], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) throw new BarmanError('server-disabled', `Server '${serverName}' cannot be used`);
    const config = server.config;
    const parsed = parseRecoveryTargets(targetOptionValues(input.options));
    // The copy must end its recovery and open: promote at the target rather than pause.
    const targets = parsed.target.kind === 'none' ? parsed : { ...parsed, action: 'promote' as const };
    const targetText = describeTargets(targets, null) || 'end of the WAL archive';

    // Refused before anything is created: the drill's directory never goes into the catalogue.
    const drillBase = drillBaseDirectory(config, catalogueAreas(ctx.config));
    // What to drill and with which programs, before the drill lock (refusals change nothing).
    const catalog = await loadAnyServerCatalog(config, ctx.report);
    const chosen = chooseBackup(
      catalog.backups,
      config.name,
      (input.args.backup_id as string | undefined) ?? 'latest',
      targets,
    );
    if (!chosen.info)
      throw new BarmanError(
        'backup-unreadable',
        `backup '${chosen.id}' has an unreadable backup.info: ${chosen.unreadable}`,
      );
    if (!['DONE', 'WAITING_FOR_WALS'].includes(chosen.info.status))
      throw new BarmanError(
        'backup-not-done',
        `backup ${chosen.id} of server ${config.name} is ${chosen.info.status}: only a DONE backup can be drilled`,
        { hint: "choose another backup (see 'barman list-backup')" },
      );
    const backup = chosen as CatalogBackup & { info: BackupInfo };
    if (backup.info.version === null)
      throw new BarmanError(
        'backup-unreadable',
        `backup '${backup.id}' does not record its PostgreSQL version`,
      );
    const chain = resolveChain(config.name, catalog.backups, backup);
    const programs = await findDrillPrograms(config, backup.info.version);
    await ensureLockDirectory(ctx.config.global.barman_lock_directory);
    const lockPath = `${ctx.config.global.barman_lock_directory}/.restore-drill.lock`;
    const lock = tryAcquireLock(lockPath);
    if (!lock) {
      const pid = lockHolder(lockPath);
      throw new BarmanError(
        'drill-running',
        `another restore drill is running${pid ? ` (pid ${pid})` : ''}`,
        {
          hint: `drills run one at a time (lock file ${lockPath}): try again when it has ended`,
        },
      );
    }
    try {
      lowerPriority(ctx, config.restore_drill_nice);
      ctx.report.info(
        `Starting restore drill of backup ${backup.id} of server ${config.name} (target: ${targetText})`,
      );
      const result = await runDrill(ctx, {
        config,
        backup,
        chainBytes: chain.reduce((sum, member) => sum + (member.info.size ?? 0), 0),
        targets,
        targetText,
        programs,
        drillBase,
      });
      let recordedIn: string | null = null;
      try {
        recordedIn = await withBackupStore(config, (store) => recordDrillResult(store, result));
      } catch (error) {
        ctx.report.error(`the drill result could not be recorded: ${describeError(error)}`);
      }
      const line = `restore drill of backup ${backup.id} of server ${config.name}`;
      if (result.status === 'ok') ctx.log.info(`${line} passed in ${result.duration_seconds.toFixed(1)} s`);
      else ctx.report.error(`${line} FAILED: ${result.error}`);
      return { server: config.name, result, recordedIn };
    } finally {
      lock.release();
    }
  },

  renderConsole({ server, result, recordedIn }) {
    const lines = [
      `Restore drill of backup ${result.backup_id} of server ${server}: ${result.status === 'ok' ? 'OK' : 'FAILED'}`,
      `  Target: ${result.target}`,
      ...result.steps.map((step) => `  ${step.name}: ${step.status.toUpperCase()} - ${step.detail}`),
      `  Duration: ${result.duration_seconds.toFixed(1)} s (started ${result.started_at})`,
    ];
    if (recordedIn) lines.push(`  Recorded in: ${recordedIn}`);
    return lines;
  },

  renderJson({ server, result, recordedIn }) {
    return { server, ...result, recorded_in: recordedIn };
  },

  exitCode: ({ result }) => (result.status === 'ok' ? 0 : 1),
});

/** restore_drill_nice: this process and all it starts run nicer, and with the lowest best-effort I/O. */
function lowerPriority(ctx: CommandContext, nice: number): void {
  if (nice <= 0) return;
  try {
    setPriority(Math.max(getPriority(), nice));
  } catch (error) {
    ctx.log.warning(`restore drill: cannot lower the priority: ${describeError(error)}`);
  }
  void runProgramUnchecked('ionice', ['-c', '2', '-n', '7', '-p', String(process.pid)]).catch(
    (error: unknown) => ctx.log.debug(`restore drill: ionice not applied: ${describeError(error)}`),
  );
}
