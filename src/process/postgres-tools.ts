/**
 * PostgreSQL client programs (pg_basebackup, pg_receivewal) as Barman finds them: the first
 * directory of `path_prefix` then PATH holding one that runs `--version` successfully (Debian's
 * pg_wrapper shims fail when their version is not installed), and whether its major version can
 * work with the server's.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import type { RunResult } from './index.js';
import { runProgramUnchecked } from './index.js';

export interface PgTool {
  /** Absolute path of the program found. */
  path: string;
  /** `15.18`; null when the `--version` output could not be parsed. */
  fullVersion: string | null;
  /** `15`, `9.6`. */
  majorVersion: string | null;
}

/** `path_prefix` then PATH, as one search path. */
export function toolSearchPath(pathPrefix: string | null, envPath = process.env.PATH ?? ''): string {
  return [pathPrefix, envPath].filter((part): part is string => Boolean(part)).join(delimiter);
}

/**
 * The version of `pg_basebackup (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`: parenthesised parts
 * removed, then the second word. Null unless it starts like a version (`15.18`, `9.6.24`, `17devel`).
 */
export function parseToolVersion(output: string): { full: string; major: string } | null {
  const words = output
    .trim()
    .split('\n')[0]!
    .replace(/\s*\([^)]*\)/g, '')
    .split(/\s+/);
  const full = words[1];
  if (!full || !/^\d+(\.\d+|devel|beta|alpha|rc)/.test(full)) return null;
  return { full, major: majorOf(full) };
}

/** The version without its last component: `15.18` -> `15`, `9.6.24` -> `9.6`, `17beta1` -> `17`. */
export function majorOf(version: string): string {
  const parts = version.split('.');
  const last = parts.at(-1)!;
  const unreleased = /[^0-9]/.exec(last);
  if (unreleased) {
    parts.pop();
    parts.push(last.slice(0, unreleased.index), last.slice(unreleased.index));
  }
  return parts.length > 1 ? parts.slice(0, -1).join('.') : parts[0]!;
}

/** Numeric comparison of dotted versions: `9.6` < `10` < `15` (a non-numeric part counts as 0). */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.').map((part) => Number.parseInt(part, 10) || 0);
  const right = b.split('.').map((part) => Number.parseInt(part, 10) || 0);
  for (let index = 0; index < Math.max(left.length, right.length); index += 1) {
    const x = left[index] ?? -1;
    const y = right[index] ?? -1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * A client program works with servers of its own major version and older ones (9.3 and later;
 * 9.2 only with 9.2), as Barman decides for pg_basebackup and pg_receivewal.
 */
export function toolCompatible(serverMajor: string, toolMajor: string): boolean {
  if (serverMajor === '9.2' && toolMajor === '9.2') return true;
  return compareVersions('9.2', serverMajor) < 0 && compareVersions(serverMajor, toolMajor) <= 0;
}

/** The file's identity when `path` is an executable regular file, else null. */
async function executableFile(path: string): Promise<string | null> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return null;
    await access(path, constants.X_OK);
    return `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}`;
  } catch {
    return null;
  }
}

/**
 * `--version` runs already made in this process, by program file (a replaced file is asked
 * again) and PATH: a backup's pre-backup check and its executor ask about the same
 * pg_basebackup, and Debian's pg_wrapper is a Perl script that takes tens of milliseconds to
 * start, more with a cold cache. A run that failed or was aborted is not kept.
 */
const versionRuns = new Map<string, Promise<RunResult>>();

function versionRun(
  path: string,
  identity: string,
  searchPath: string,
  signal?: AbortSignal,
): Promise<RunResult> {
  const key = `${path}\0${identity}\0${searchPath}`;
  const known = versionRuns.get(key);
  if (known) return known;
  const run = runProgramUnchecked(path, ['--version'], {
    env: { ...process.env, PATH: searchPath },
    timeoutMs: 10_000,
    signal,
  });
  versionRuns.set(key, run);
  run.then(
    (result) => {
      if (result.exitCode !== 0) versionRuns.delete(key);
    },
    () => versionRuns.delete(key),
  );
  return run;
}

/**
 * The first of `names` (e.g. `pg_receivewal`, `pg_receivexlog`) found in `searchPath` whose
 * `--version` succeeds, or null.
 */
export async function findPgTool(
  names: readonly string[],
  searchPath: string,
  signal?: AbortSignal,
): Promise<PgTool | null> {
  for (const directory of searchPath.split(delimiter)) {
    if (!directory) continue;
    for (const name of names) {
      const path = join(directory, name);
      const identity = await executableFile(path);
      if (identity === null) continue;
      try {
        const run = await versionRun(path, identity, searchPath, signal);
        if (run.exitCode !== 0) continue; // an inactive pg_wrapper shim
        const version = parseToolVersion(run.stdout);
        return { path, fullVersion: version?.full ?? null, majorVersion: version?.major ?? null };
      } catch {
        continue;
      }
    }
  }
  return null;
}

/** The first executable `name` in path_prefix then PATH (a working one, see findPgTool). */
export async function findProgram(name: string, pathPrefix: string | null): Promise<string | null> {
  return (await findPgTool([name], toolSearchPath(pathPrefix)))?.path ?? null;
}

/** `pg_basebackup (PostgreSQL) 15.18 ...` -> { text: '15.18', major: 15 }. */
export async function postgresToolVersion(path: string): Promise<{ text: string; major: number } | null> {
  const run = await runProgramUnchecked(path, ['--version'], { timeoutMs: 10_000 }).catch(() => null);
  const version = run ? parseToolVersion(run.stdout) : null;
  return version ? { text: version.full, major: Number.parseFloat(version.major) } : null;
}

/**
 * The first `name` in `directories` (in order) whose major version `fits`, with every directory
 * searched, for a refusal that names them. A program that does not run or tell its version is
 * passed over.
 */
export async function findPgToolOfVersion(
  name: string,
  directories: readonly string[],
  fits: (major: number) => boolean,
): Promise<{ tool: (PgTool & { major: number }) | null; searched: string[] }> {
  const searched = [...new Set(directories.filter((directory) => directory !== ''))];
  for (const directory of searched) {
    const tool = await findPgTool([name], directory);
    const major = tool?.majorVersion ? Number.parseFloat(tool.majorVersion) : Number.NaN;
    if (tool && fits(major)) return { tool: { ...tool, major }, searched };
  }
  return { tool: null, searched };
}
