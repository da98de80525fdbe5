/**
 * identity.json: the PostgreSQL cluster a server's archive belongs to (system identifier and
 * major version). Barman writes it before the first backup; barman-ts also writes it from the
 * first WAL file archived, so strangers can be rejected from the start.
 */
import { readFile } from 'node:fs/promises';
import { BarmanError } from '../errors/index.js';
import { naming } from '../errors/system.js';
import { writeFileDurably } from '../storage/posix.js';

export interface ClusterIdentity {
  systemid: string;
  version: string | null;
}

export async function readIdentity(file: string): Promise<ClusterIdentity | null> {
  let text: string;
  try {
    text = await naming(file, readFile(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const systemid = systemIdOf(text);
  if (systemid === null) {
    throw new BarmanError(
      'identity-invalid',
      `${file} is damaged: expected JSON with the cluster's "systemid" (a number) and "version"`,
      {
        hint: 'restore it from a copy, or remove it: the next backup (or the first WAL file archived) writes it again',
      },
    );
  }
  return systemid;
}

function systemIdOf(text: string): ClusterIdentity | null {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof data !== 'object' || data === null) return null;
  const { systemid, version } = data as { systemid?: unknown; version?: unknown };
  if (typeof systemid !== 'string' && typeof systemid !== 'number') return null;
  if (!/^\d+$/.test(String(systemid))) return null;
  return { systemid: String(systemid), version: typeof version === 'string' ? version : null };
}

/** Barman's format: pretty JSON, 4-space indent, sorted keys, trailing newline. */
export async function writeIdentity(file: string, identity: ClusterIdentity): Promise<void> {
  const text = `${JSON.stringify({ systemid: identity.systemid, version: identity.version }, null, 4)}\n`;
  await writeFileDurably(file, text);
}
