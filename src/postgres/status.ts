/**
 * The values Barman 3.4's "remote status" (show-server, diagnose) reads from PostgreSQL, in the
 * text forms its output shows: numerics as PostgreSQL prints them (Barman shows Python Decimals),
 * timestamps as Python prints a datetime (`2026-11-21 11:54:45.181330+05:30`).
 */
import type { PostgresClient } from './client.js';
import { setting } from './server.js';

/** SQL giving a timestamptz as Python's str(datetime) does, in the session's time zone. */
const pythonDatetime = (column: string) =>
  `CASE WHEN ${column} IS NULL THEN NULL
        ELSE to_char(${column}, 'YYYY-MM-DD HH24:MI:SS')
          || CASE WHEN extract(microseconds from ${column})::bigint % 1000000 = 0 THEN ''
                  ELSE to_char(${column}, '.US') END
          || to_char(${column}, 'TZH:TZM') END`;

/** pg_stat_archiver with Barman's two derived columns. */
export interface ArchiverRow {
  archived_count: number;
  last_archived_wal: string | null;
  last_archived_time: string | null;
  failed_count: number;
  last_failed_wal: string | null;
  last_failed_time: string | null;
  stats_reset: string | null;
  is_archiving: boolean;
  /** archived_count / seconds since stats_reset, as PostgreSQL's numeric text. */
  current_archived_wals_per_second: string | null;
}

export async function archiverRow(client: PostgresClient): Promise<ArchiverRow> {
  const [row] = await client.query<ArchiverRow & { archived_count: string; failed_count: string }>(
    `SELECT archived_count::text, last_archived_wal, ${pythonDatetime('last_archived_time')} AS last_archived_time,
            failed_count::text, last_failed_wal, ${pythonDatetime('last_failed_time')} AS last_failed_time,
            ${pythonDatetime('stats_reset')} AS stats_reset,
            COALESCE(current_setting('archive_mode') IN ('on', 'always')
              AND (last_failed_wal IS NULL
                   OR last_failed_wal LIKE '%.history'
                      AND substring(last_failed_wal from 1 for 8) <= substring(last_archived_wal from 1 for 8)
                   OR last_failed_time <= last_archived_time), false) AS is_archiving,
            (CAST(archived_count AS NUMERIC) / EXTRACT(EPOCH FROM age(now(), stats_reset)))::text
              AS current_archived_wals_per_second
       FROM pg_stat_archiver`,
  );
  return { ...row!, archived_count: Number(row!.archived_count), failed_count: Number(row!.failed_count) };
}

/** The version word of `SELECT version()`: `PostgreSQL 15.18 (Debian ...)` -> `15.18`. */
export async function serverVersionWord(client: PostgresClient): Promise<string | null> {
  const [row] = await client.query<{ v: string }>('SELECT version() AS v');
  return row?.v.split(/\s+/)[1] ?? null;
}

/** Sum of the tablespaces' sizes as PostgreSQL's numeric text. */
export async function clusterSizeText(client: PostgresClient): Promise<string | null> {
  const [row] = await client.query<{ size: string | null }>(
    'SELECT sum(pg_tablespace_size(oid))::text AS size FROM pg_tablespace',
  );
  return row?.size ?? null;
}

/** An integer setting in its base unit (pg_settings.setting, not SHOW's `5min`). */
export async function integerSetting(client: PostgresClient, name: string): Promise<number | null> {
  const value = await setting(client, name);
  return value === null ? null : Number.parseInt(value, 10);
}
