/**
 * What a backup's page checksum verification asks the server it backed up: whether the cluster
 * has data checksums, a block of a relation file read again at the source (a page caught
 * mid-write by the copy is sound there), and the name of the relation a file belongs to
 * (`database.schema.table`, as pg_amcheck names it).
 */
import { PostgresClient } from './client.js';
import { formatConnInfo, parseConnInfo } from './conninfo.js';

export async function dataChecksumsEnabled(client: PostgresClient): Promise<boolean> {
  const [row] = await client.query<{ on: string }>("SELECT current_setting('data_checksums') AS on");
  return row?.on === 'on';
}

/**
 * `length` bytes at `offset` of `path` (relative to the data directory), read by the server;
 * null when the file is gone (dropped since). Needs superuser or pg_read_server_files.
 */
export async function readServerFile(
  client: PostgresClient,
  path: string,
  offset: number,
  length: number,
): Promise<Buffer | null> {
  const [row] = await client.query<{ data: Buffer | null }>(
    'SELECT pg_read_binary_file($1, $2, $3, true) AS data',
    [path, offset, length],
  );
  return row?.data ?? null;
}

export interface RelationFileId {
  /** Null: the default tablespace, or pg_global for a shared relation (databaseOid null). */
  tablespaceOid: number | null;
  databaseOid: number | null;
  relfilenode: number;
}

/** pg_global's oid: shared relations' files are in global/. */
const GLOBAL_TABLESPACE_OID = 1664;

/**
 * Names the relations of `files`: `database.schema.relation` (shared relations:
 * `pg_catalog.relation`); a file no relation owns any more maps to nothing. Connects once per
 * database, with `conninfo`'s settings.
 */
export async function relationNames(
  client: PostgresClient,
  conninfo: string,
  files: readonly RelationFileId[],
): Promise<Map<RelationFileId, string>> {
  const names = new Map<RelationFileId, string>();
  const byDatabase = new Map<number | null, RelationFileId[]>();
  for (const file of files)
    byDatabase.set(file.databaseOid, [...(byDatabase.get(file.databaseOid) ?? []), file]);
  for (const [databaseOid, group] of byDatabase) {
    let session = client;
    let prefix = '';
    if (databaseOid !== null) {
      const [database] = await client.query<{ name: string }>(
        'SELECT datname AS name FROM pg_database WHERE oid = $1',
        [databaseOid],
      );
      if (!database) continue;
      prefix = `${database.name}.`;
      const info = parseConnInfo(conninfo);
      info.set('dbname', database.name);
      session = await PostgresClient.connect(formatConnInfo(info), { connectTimeoutSeconds: 30 });
    }
    try {
      for (const file of group) {
        const tablespace = file.databaseOid === null ? GLOBAL_TABLESPACE_OID : (file.tablespaceOid ?? 0);
        const [row] = await session.query<{ name: string | null }>(
          `SELECT n.nspname || '.' || c.relname AS name FROM pg_class c
             JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.oid = pg_filenode_relation($1, $2)`,
          [tablespace, file.relfilenode],
        );
        if (row?.name) names.set(file, `${prefix}${row.name}`);
      }
    } finally {
      if (session !== client) await session.close();
    }
  }
  return names;
}
