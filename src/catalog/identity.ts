/**
 * identity.json: the PostgreSQL cluster a server's archive belongs to (system identifier and
 * major version). Barman writes it before the first backup; barman-ts also writes it from the
 * first WAL file archived, so strangers can be rejected from the start.
 */
import { basename, dirname } from 'node:path';
import { BarmanError } from '../errors/index.js';
import { naming } from '../errors/system.js';
import type { Storage } from '../storage/index.js';
import { PosixStorage } from '../storage/index.js';
import { displayPath, readIfExists } from './store.js';

export interface ClusterIdentity {
  systemid: string;
  version: string | null;
}

/** identity.json on a storage, or the path of a local one. */
export type IdentityFile = string | { storage: Storage; path: string };

function located(where: IdentityFile): { storage: Storage; path: string } {
  return typeof where === 'string'
    ? { storage: new PosixStorage(dirname(where)), path: basename(where) }
    : where;
}

export async function readIdentity(where: IdentityFile): Promise<ClusterIdentity | null> {
  const { storage, path } = located(where);
  const file = displayPath(storage, path);
  const data = await naming(file, readIfExists(storage, path));
  if (data === null) return null;
  const systemid = systemIdOf(data.toString('utf8'));
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
export async function writeIdentity(where: IdentityFile, identity: ClusterIdentity): Promise<void> {
  const { storage, path } = located(where);
  const text = `${JSON.stringify({ systemid: identity.systemid, version: identity.version }, null, 4)}\n`;
  await storage.writeFile(path, text);
}
