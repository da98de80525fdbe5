/**
 * recover (alias restore): turns the options into a recovery request, wires the hooks, the
 * catalogue and the restore_command of --get-wal to it (recovery/recover.ts does the rest),
 * and explains what was changed.
 */
import { hostname } from 'node:os';
import { basename, isAbsolute } from 'node:path';
import { formatTimestamp } from '../../catalog/backup-info.js';
import type { ServerConfig } from '../../config/index.js';
import { BarmanError, describeError, UsageError } from '../../errors/index.js';
import { archiveHooks, backupHookInfo, HookRunner, recoveryHookEnv } from '../../hooks/index.js';
import { humanDuration } from '../../output/time.js';
import { runProgramUnchecked } from '../../process/index.js';
import { shellQuote } from '../../process/spawn.js';
import type { ApplyResult } from '../../recovery/apply.js';
import type { RecoveryPlan } from '../../recovery/plan.js';
import { describePlan } from '../../recovery/plan.js';
import { catalogueAreas } from '../../recovery/protected-paths.js';
import type { RecoveryEvent } from '../../recovery/recover.js';
import { recover } from '../../recovery/recover.js';
import { stagingRoot } from '../../recovery/request.js';
import type { RecoveryTargets } from '../../recovery/targets.js';
import { parseRecoveryTargets } from '../../recovery/targets.js';
import { formatLsn } from '../../wal/names.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { loadAnyServerCatalog } from '../shared/backup-catalog.js';
import { selectServers } from '../shared/select-servers.js';
import { numberProblem, PORT_RANGE } from '../../util/whole-number.js';
import { targetOptionValues } from './index.js';
import { withOverrides } from '../shared/overrides.js';

interface RecoverResult {
  server: string;
  backupId: string;
  destination: string;
  dryRun: boolean;
  planLines: string[];
  pitr: boolean;
  getWal: boolean;
  result: ApplyResult | null;
  startedAt: Date;
  elapsedSeconds: number;
  externalConfigFiles: string[];
  /** Where the recovery settings were written (postgresql.auto.conf, recovery.conf, --recovery-conf-filename). */
  settingsFile: string;
}

export default defineCommandModule<RecoverResult>({
  async run(ctx, input) {
    const serverName = input.args.server_name as string;
    const [server] = selectServers(ctx, [serverName], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) throw new BarmanError('server-disabled', `Server '${serverName}' cannot be used`);
    // --jobs, --bwlimit, --retry-times, --network-compression … win over the configuration.
    const config = withOverrides(server.config, {
      ...input.overrides,
      ...(input.options.retry === false ? { basebackup_retry_times: 0 } : {}),
    });
    const options = input.options;
    const targets = parseRecoveryTargets({
      ...targetOptionValues(options),
      targetAction: options.targetAction as string | undefined,
      standbyMode: options.standbyMode === true,
    });
    const remoteCommand = (options.remoteSshCommand as string | undefined)?.trim() || null;
    if (input.overrides.network_compression === true && !remoteCommand) {
      throw new UsageError('--network-compression needs --remote-ssh-command');
    }
    const getWal =
      options.getWal === false
        ? false
        : options.getWal === true || config.recovery_options.includes('get-wal');
    const delta =
      options.deltaRestore === false
        ? false
        : options.deltaRestore === true || config.recovery_options.includes('delta-restore');
    const walRestorePort = recoveryOptionPort(
      options.recoveryOptionPort as string | undefined,
      remoteCommand,
      getWal,
    );
    const hooks = HookRunner.forServer(ctx, config);
    const hookEnv = (event: RecoveryEvent) =>
      recoveryHookEnv({
        ...backupHookInfo(event.backup, event.backups),
        destination: event.plan.destination,
        tablespaces: Object.fromEntries(
          event.plan.tablespaces.filter((t) => t.location !== t.original).map((t) => [t.name, t.location]),
        ),
        remoteCommand,
        recoverOptions: hookRecoverOptions(event.plan, targets),
      });
    const outcome = await recover(
      {
        config,
        backupReference: input.args.backup_id as string,
        destination: input.args.destination_directory as string,
        remoteCommand,
        tablespaceRules: (options.tablespace as string[] | undefined) ?? [],
        targets,
        getWal,
        delta,
        dryRun: options.dryRun === true,
        staging: stagingRoot(
          config,
          options.recoveryStagingPath as string | undefined,
          remoteCommand !== null,
        ),
        stagingWalDirectory: (options.stagingWalDirectory as string | undefined) ?? null,
        recoveryConfFilename: (options.recoveryConfFilename as string | undefined) ?? null,
        areas: catalogueAreas(ctx.config),
      },
      {
        report: ctx.report,
        log: ctx.log,
        loadCatalog: () => loadAnyServerCatalog(config, ctx.report),
        archiveHooks: archiveHooks(hooks),
        getWalCommand: () => getWalRestoreCommand(ctx, config, remoteCommand, targets, walRestorePort),
        async preRecovery(event) {
          if (hooks.has('recovery', 'pre')) await hooks.run('recovery', 'pre', hookEnv(event));
        },
        async postRecovery(event, error) {
          if (!hooks.has('recovery', 'post')) return;
          await hooks.run(
            'recovery',
            'post',
            error === null ? hookEnv(event) : { ...hookEnv(event), BARMAN_ERROR: describeError(error) },
          );
        },
      },
    );
    const { plan } = outcome;
    return {
      server: config.name,
      backupId: outcome.backupId,
      destination: plan.destination,
      dryRun: options.dryRun === true,
      planLines: describePlan(plan),
      pitr: plan.pitr,
      getWal,
      result: outcome.result,
      startedAt: outcome.startedAt,
      elapsedSeconds: outcome.elapsedSeconds,
      externalConfigFiles: outcome.externalConfigFiles,
      settingsFile: plan.settings.file,
    };
  },

  renderConsole(data) {
    if (data.dryRun) return data.planLines;
    const lines: string[] = [];
    const result = data.result!;
    if (result.modified.length > 0) {
      lines.push(
        '',
        'IMPORTANT',
        'These settings have been modified to prevent data losses',
        '',
        ...result.modified,
      );
    }
    if (result.review.length > 0) {
      lines.push(
        '',
        'WARNING',
        'You are required to review the following options as potentially dangerous',
        '',
        ...result.review,
      );
    }
    if (data.externalConfigFiles.length > 0) {
      lines.push(
        '',
        'WARNING',
        'The following configuration files have not been saved during backup, hence they have not been restored.',
        'You need to manually restore them in order to start the recovered PostgreSQL instance:',
        '',
        ...data.externalConfigFiles.map((file) => `    ${file}`),
      );
    }
    if (data.getWal) {
      lines.push(
        '',
        "WARNING: 'get-wal' is in the specified 'recovery_options'.",
        `Before you start up the PostgreSQL server, please review the ${data.settingsFile} file`,
        "inside the target directory. Make sure that 'restore_command' can be executed by the PostgreSQL user.",
      );
    }
    const elapsed = data.elapsedSeconds < 1 ? 'less than one second' : humanDuration(data.elapsedSeconds);
    lines.push(
      '',
      `Recovery completed (start time: ${formatTimestamp(data.startedAt, -data.startedAt.getTimezoneOffset())}, elapsed time: ${elapsed})`,
      'Your PostgreSQL server has been successfully prepared for recovery!',
    );
    return lines;
  },

  renderJson(data) {
    if (data.dryRun) return { server: data.server, backup_id: data.backupId, plan: data.planLines };
    const result = data.result!;
    return {
      server: data.server,
      backup_id: data.backupId,
      destination: data.destination,
      pitr: data.pitr,
      get_wal: data.getWal,
      files: result.files,
      bytes: result.bytes,
      reused_files: result.reusedFiles,
      wal_files: result.walFiles,
      changes: result.modified,
      warnings: result.review,
      missing_files: data.externalConfigFiles,
      start_time: data.startedAt.toISOString(),
      elapsed_seconds: data.elapsedSeconds,
    };
  },
});

/** restore_command for --get-wal: `barman get-wal` locally, barman-wal-restore from another host. */
async function getWalRestoreCommand(
  ctx: CommandContext,
  config: ServerConfig,
  remoteCommand: string | null,
  targets: RecoveryTargets,
  port: string | null,
): Promise<{ command: string; comment: string }> {
  const partial = targets.standbyMode ? [] : ['-P'];
  const q = (words: string[]) => words.map(shellQuote).join(' ');
  if (remoteCommand) {
    // The recovered host reaches back to this one by name, as Barman's getfqdn().
    const fqdn =
      (await runProgramUnchecked('hostname', ['-f']).catch(() => null))?.stdout.trim() || hostname();
    return {
      comment: "The 'barman-wal-restore' command is provided by barman-ts (or Barman's 'barman-cli' package)",
      command: `barman-wal-restore ${q([...partial, '-U', ctx.config.global.barman_user, ...(port ? ['--port', port] : []), '-c', ctx.config.configFile, fqdn, config.name])} %f %p`,
    };
  }
  return {
    comment: `The 'barman get-wal' command must run as the '${ctx.config.global.barman_user}' user`,
    command: `${q([...barmanCommand(), '-c', ctx.config.configFile, '-q', 'get-wal', ...partial, config.name])} %f > %p`,
  };
}

/**
 * --recovery-option-port (Barman 3.17): the ssh port barman-wal-restore uses from the recovered
 * host. Only a remote recovery with get-wal writes barman-wal-restore: elsewhere it is refused.
 */
function recoveryOptionPort(
  text: string | undefined,
  remoteCommand: string | null,
  getWal: boolean,
): string | null {
  if (text === undefined) return null;
  const problem = numberProblem('--recovery-option-port', text, PORT_RANGE);
  if (problem) throw new UsageError(problem);
  if (!remoteCommand || !getWal) {
    throw new UsageError(
      '--recovery-option-port is only used by a remote recovery with get-wal (the barman-wal-restore restore_command)',
      'Add --remote-ssh-command and --get-wal (or recovery_options = get-wal), or leave the option out.',
    );
  }
  return String(Number(text));
}

/** How this barman-ts was started, usable from PostgreSQL's shell. */
function barmanCommand(): string[] {
  const script = process.argv[1] ?? 'barman';
  if (isAbsolute(script) && basename(script) === 'barman') return [script];
  return isAbsolute(script) ? [process.execPath, script] : ['barman'];
}

function hookRecoverOptions(plan: RecoveryPlan, targets: RecoveryTargets): Record<string, unknown> {
  const { target } = targets;
  return {
    target_time: target.kind === 'time' ? target.text : null,
    target_xid: target.kind === 'xid' ? target.xid : null,
    target_lsn: target.kind === 'lsn' ? formatLsn(target.lsn) : null,
    target_name: target.kind === 'name' ? target.name : null,
    target_immediate: target.kind === 'immediate',
    target_tli: targets.timeline ? plan.wal.selection.targetTimeline : null,
    exclusive: targets.exclusive,
    target_action: targets.action,
    standby_mode: targets.standbyMode,
    get_wal: plan.wal.mode === 'get-wal',
    delta_restore: plan.delta,
  };
}
