/**
 * backup_options = exclusive_backup (PostgreSQL 9.6 to 14, a primary): pg_start_backup(label,
 * fast, true) writes backup_label (and tablespace_map) into PGDATA; the copy takes them with
 * the data files, as Barman's does; pg_stop_backup() ends the backup and removes them. An
 * exclusive backup outlives its session, so a failed or interrupted copy must stop it, or
 * PostgreSQL keeps a backup_label that refuses the next start and confuses a crash restart.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BarmanError, describeError } from '../errors/index.js';
import * as postgres from '../postgres/index.js';
import type { BackupRequest } from './types.js';

const HINT_STOP =
  'When no backup runs, end it on PostgreSQL with SELECT pg_stop_backup(); or use backup_options = concurrent_backup.';

/** Refused before anything starts: PostgreSQL 15 removed exclusive backups; a standby never had them. */
export function refuseExclusive(client: postgres.PostgresClient, standby: boolean, server: string): void {
  if (client.serverVersion >= 150000) {
    throw new BarmanError(
      'exclusive-backup-unsupported',
      `backup_options = exclusive_backup: PostgreSQL ${client.majorVersion} has no exclusive backups (removed in PostgreSQL 15): set backup_options = concurrent_backup for server ${server}`,
    );
  }
  if (standby) {
    throw new BarmanError(
      'exclusive-backup-standby',
      `backup_options = exclusive_backup: an exclusive backup cannot be taken from a standby: set backup_options = concurrent_backup for server ${server}`,
    );
  }
}

/** Another tool's exclusive backup (or one an earlier run could not stop) is never joined. */
export async function refuseRunningExclusive(client: postgres.PostgresClient): Promise<void> {
  if (await postgres.exclusiveBackupInProgress(client)) {
    throw new BarmanError(
      'exclusive-backup-running',
      'an exclusive backup is already in progress on PostgreSQL (a backup_label is in PGDATA): ' +
        `another tool started it, or an earlier backup could not stop it. ${HINT_STOP}`,
    );
  }
}

/**
 * After a failed or interrupted copy: stops the exclusive backup over a new session (the
 * backup's own may be the thing that was lost). Never throws: the copy's error is the story.
 */
export async function abandonExclusive(request: BackupRequest): Promise<void> {
  try {
    const client = await postgres.PostgresClient.connect(request.config.conninfo);
    try {
      if (!(await postgres.exclusiveBackupInProgress(client))) return;
      await postgres.stopExclusiveBackup(client);
    } finally {
      await client.close();
    }
    request.report.info('The exclusive backup was stopped on PostgreSQL (pg_stop_backup).');
  } catch (error) {
    request.report.warning(
      `cannot stop the exclusive backup on PostgreSQL (${describeError(error)}): it is still in progress and its backup_label stays in PGDATA. ${HINT_STOP}`,
    );
  }
}

/** The backup_label the copy took from PGDATA: it must be this backup's. */
export async function copiedLabel(request: BackupRequest, label: string): Promise<string> {
  const file = join(request.backupDirectory, 'data', 'backup_label');
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null || !text.split('\n').includes(`LABEL: ${label}`)) {
    throw new BarmanError(
      'backup-label-missing',
      `the copy has no backup_label of this exclusive backup (${file}${text === null ? ' is missing' : ' is another backup'}): it cannot be recovered`,
      {
        hint: 'Check that nothing removes backup_label from PGDATA during backups, then take the backup again.',
      },
    );
  }
  return text;
}

/**
 * Until the copy ends, SIGINT and SIGTERM abort it (so that the backup is stopped and marked
 * FAILED) instead of killing the process with the exclusive backup still running.
 */
export function abortOnSignals(abort: AbortController): () => void {
  const onSignal = (signal: NodeJS.Signals) =>
    abort.abort(new BarmanError('interrupted', `backup interrupted by ${signal}`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  };
}
