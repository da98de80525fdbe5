/**
 * identity.json: the PostgreSQL cluster a server's archive belongs to (system identifier and
 * major version). Barman writes it before the first backup; barman-ts also writes it from the
 * first WAL file archived, so strangers can be rejected from the start.
 */
import { readFile } from 'node:fs/promises';
import { writeFileDurably } from '../storage/posix.js';

export interface ClusterIdentity {
  systemid: string;
  version: string | null;
}

export async function readIdentity(file: string): Promise<ClusterIdentity | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const data = JSON.parse(text) as { systemid?: unknown; version?: unknown };
  if (typeof data.systemid !== 'string' && typeof data.systemid !== 'number') {
    throw new Error(`${file}: no systemid`);
  }
  return { systemid: String(data.systemid), version: typeof data.version === 'string' ? data.version : null };
}

/** Barman's format: pretty JSON, 4-space indent, sorted keys, trailing newline. */
export async function writeIdentity(file: string, identity: ClusterIdentity): Promise<void> {
  const text = `${JSON.stringify({ systemid: identity.systemid, version: identity.version }, null, 4)}\n`;
  await writeFileDurably(file, text);
}
