/**
 * backup_method = rsync's checks: ssh_command reaches the PostgreSQL host cleanly and, when
 * PostgreSQL does not answer, whether a backup_label left in PGDATA may be why.
 */
import { join } from 'node:path';
import { statusOf } from '../catalog/backups.js';
import { describeError } from '../errors/index.js';
import { runProgramUnchecked } from '../process/index.js';
import { shellQuote } from '../process/spawn.js';
import type { ExecutorCheckContext } from './types.js';

const NOT_EMPTY_STATUSES = new Set(['STARTED', 'WAITING_FOR_WALS', 'DONE', 'SYNCING', 'FAILED']);

/** `ssh_command` is shell (Barman runs it through the shell): run it with `true` as the remote command. */
export async function sshCheck(ctx: ExecutorCheckContext): Promise<void> {
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
  ctx: ExecutorCheckContext,
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
