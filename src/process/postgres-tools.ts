/** Finding PostgreSQL client programs (path_prefix first, then PATH) and their versions. */
import { access, constants } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { runProgramUnchecked } from './index.js';

export async function findProgram(name: string, pathPrefix: string | null): Promise<string | null> {
  const directories = [
    ...(pathPrefix ? pathPrefix.split(':') : []),
    ...(process.env.PATH ?? '').split(delimiter),
  ];
  for (const directory of directories.filter(Boolean)) {
    const candidate = join(directory, name);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** `pg_basebackup (PostgreSQL) 15.18 (Debian ...)` -> { text: '15.18', major: 15 }. */
export async function postgresToolVersion(path: string): Promise<{ text: string; major: number } | null> {
  const result = await runProgramUnchecked(path, ['--version'], { timeoutMs: 10_000 }).catch(() => null);
  const match = result ? /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(result.stdout) : null;
  if (!match) return null;
  const major = Number(match[1]);
  return { text: match[2] ? `${match[1]}.${match[2]}` : match[1]!, major };
}
