/**
 * The checks each backup method contributes, in Barman's order: pg_basebackup for `postgres`
 * (the server's version instead, for a backup streamed to object storage);
 * ssh and the backup strategy for `rsync`; local PGDATA access and the backup strategy for
 * `local-rsync` and `local-to-cloud`.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { statusOf } from '../../../catalog/backups.js';
import type { ServerConfig } from '../../../config/index.js';
import { describeError } from '../../../errors/index.js';
import { BASE_BACKUP_MIN_VERSION } from '../../../postgres/index.js';
import { runProgramUnchecked } from '../../../process/index.js';
import { compareVersions, findPgTool } from '../../../process/postgres-tools.js';
import type { CheckContext } from './context.js';
import { strerror } from './context.js';
import { majorVersion, MINIMAL_VERSION } from './probe.js';

type Check = (ctx: CheckContext) => Promise<void>;

const NOT_EMPTY_STATUSES = new Set(['STARTED', 'WAITING_FOR_WALS', 'DONE', 'SYNCING', 'FAILED']);

async function pgBasebackup(ctx: CheckContext): Promise<void> {
  if (ctx.config.basebackups_directory.kind === 's3') {
    await baseBackupProtocol(ctx);
    return;
  }
  ctx.c.start('pg_basebackup');
  const tool = await findPgTool(['pg_basebackup'], ctx.searchPath, ctx.signal);
  ctx.c.add('pg_basebackup', tool !== null);

  ctx.c.start('pg_basebackup compatible');
  const version = await ctx.serverVersion();
  ctx.toolCompatibility('pg_basebackup compatible', 'pg_basebackup', tool, version);

  const pg = await ctx.pg();
  if (pg.serverVersion === null) return; // reported by the PostgreSQL check
  ctx.c.start('pg_basebackup supports tablespaces mapping');
  const mapping = tool?.majorVersion ? compareVersions(tool.majorVersion, '9.4') >= 0 : false;
  const hint = 'pg_basebackup 9.4 or higher is required for tablespaces support';
  if (mapping) ctx.c.add('pg_basebackup supports tablespaces mapping', true);
  else if ((pg.tablespaces ?? []).length > 0)
    ctx.c.add('pg_basebackup supports tablespaces mapping', false, hint);
  else ctx.c.add('pg_basebackup supports tablespaces mapping', true, hint);
}

/**
 * backup_method = postgres to an s3:// basebackups_directory: barman-ts's own BASE_BACKUP client
 * (no pg_basebackup), which speaks PostgreSQL 15's protocol.
 */
async function baseBackupProtocol(ctx: CheckContext): Promise<void> {
  const pg = await ctx.pg();
  if (pg.serverVersion === null) return; // reported by the PostgreSQL check
  ctx.c.start('streaming backup to object storage');
  if (pg.serverVersion >= BASE_BACKUP_MIN_VERSION) ctx.c.add('streaming backup to object storage', true);
  else
    ctx.c.add(
      'streaming backup to object storage',
      false,
      `PostgreSQL ${pg.majorVersion} is older than ${majorVersion(BASE_BACKUP_MIN_VERSION)}: backups to an s3:// basebackups_directory need PostgreSQL 15 or newer`,
    );
}

/** `ssh_command` is shell (Barman runs it through the shell): run it with `true` as the remote command. */
async function ssh(ctx: CheckContext): Promise<void> {
  ctx.c.start('ssh');
  const sshCommand = ctx.config.ssh_command;
  if (!sshCommand) {
    ctx.c.add('ssh', false, 'No ssh command provided');
    return;
  }
  const result = await remote(ctx, sshCommand, 'true');
  if (result.error !== null) {
    ctx.c.add('ssh', false, result.error);
    return;
  }
  ctx.c.add('ssh', true, 'PostgreSQL server');
  if (result.stdout.length > 0) {
    ctx.c.start('ssh output clean');
    ctx.c.add(
      'ssh output clean',
      false,
      'the configured ssh_command must not add anything to the remote command output',
    );
  }
  // SSH works but PostgreSQL does not: a backup_label left in PGDATA may be why.
  const pg = await ctx.pg();
  if (pg.serverVersion !== null) return;
  const catalog = await ctx.catalog();
  const last = catalog?.backups.filter((backup) => NOT_EMPTY_STATUSES.has(statusOf(backup))).at(-1);
  const pgdata = last?.info?.pgdata;
  if (!pgdata) return;
  ctx.c.start('backup_label');
  const label = await remote(ctx, sshCommand, `test -e ${shellQuote(join(pgdata, 'backup_label'))}`);
  if (label.error === null) {
    ctx.c.add(
      'backup_label',
      false,
      "Check that the PostgreSQL server is up and no 'backup_label' file is in PGDATA.",
    );
  }
}

async function remote(
  ctx: CheckContext,
  sshCommand: string,
  command: string,
): Promise<{ stdout: string; error: string | null }> {
  try {
    const run = await runProgramUnchecked('/bin/sh', ['-c', `${sshCommand} ${command}`], {
      env: { ...process.env, PATH: ctx.searchPath },
      input: '',
      signal: ctx.signal,
    });
    if (run.exitCode !== 0) {
      ctx.log.debug(`ssh check: exit code ${run.exitCode}`, { stderr: run.stderr.slice(-2000) });
      return {
        stdout: run.stdout,
        error: `Connection failed using '${sshCommand}' return code ${run.exitCode}`,
      };
    }
    return { stdout: run.stdout, error: null };
  } catch (error) {
    ctx.log.debug(`ssh check: ${describeError(error)}`);
    return { stdout: '', error: `Unable to execute ${sshCommand}` };
  }
}

/** local-rsync reads PGDATA directly, as barman_user. */
async function localPgdata(ctx: CheckContext): Promise<void> {
  const pg = await ctx.pg();
  if (pg.dataDirectory === null) return; // unknown without a connection (or the privilege)
  ctx.c.start('local PGDATA');
  try {
    if (!(await stat(pg.dataDirectory)).isDirectory())
      throw new Error('A file with the same name exists, but is not a directory');
    await access(pg.dataDirectory, constants.R_OK | constants.X_OK);
    ctx.c.add('local PGDATA', true, 'Access to local PGDATA');
  } catch (error) {
    ctx.c.add('local PGDATA', false, `cannot read '${pg.dataDirectory}': ${strerror(error)}`);
  }
}

async function backupStrategy(ctx: CheckContext): Promise<void> {
  const pg = await ctx.pg();
  if (ctx.config.backup_options.includes('exclusive_backup')) {
    ctx.c.start('not in recovery');
    if (pg.isInRecovery !== null) {
      if (pg.isInRecovery)
        ctx.c.add('not in recovery', false, 'cannot perform exclusive backup on a standby');
      else ctx.c.add('not in recovery', true);
    }
    ctx.c.start('exclusive backup supported');
    if (pg.serverVersion === null)
      ctx.c.add('exclusive backup supported', false, 'unable to determine postgres version');
    else if (pg.serverVersion < 150000) ctx.c.add('exclusive backup supported', true);
    else
      ctx.c.add(
        'exclusive backup supported',
        false,
        `exclusive backups not supported on PostgreSQL ${pg.majorVersion}: set backup_options = concurrent_backup`,
      );
    return;
  }
  ctx.c.start('postgres minimal version');
  if (pg.serverVersion !== null && pg.serverVersion < MINIMAL_VERSION) {
    ctx.c.add(
      'postgres minimal version',
      false,
      `unsupported PostgresSQL version ${pg.majorVersion}. Expecting ${majorVersion(MINIMAL_VERSION)} or above.`,
    );
  }
}

/** Each backup method's checks, run in this order. */
const BACKUP_METHOD_CHECKS: Readonly<Partial<Record<ServerConfig['backup_method'], readonly Check[]>>> = {
  postgres: [pgBasebackup],
  rsync: [ssh, backupStrategy],
  'local-rsync': [localPgdata, backupStrategy],
  'local-to-cloud': [localPgdata, backupStrategy],
};

export async function backupMethodChecks(ctx: CheckContext): Promise<void> {
  for (const check of BACKUP_METHOD_CHECKS[ctx.config.backup_method] ?? []) await check(ctx);
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}
