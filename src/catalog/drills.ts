/**
 * The results of a server's restore drills (`verify-restore`), kept beside the catalogue and
 * never inside a stored backup: `restore-drills.json` in backup_directory (Barman's layout), or
 * at the root of basebackups_directory in barman-cloud's object layout (no backup id: listings
 * ignore it). One JSON document, rewritten atomically through Storage with the newest results
 * first; drills of one server are serialised by their lock, so read-modify-write is safe.
 */
import type { ServerConfig } from '../config/index.js';
import { BarmanError, describeError } from '../errors/index.js';
import type { Storage } from '../storage/index.js';
import type { BackupStore } from './store.js';
import { displayPath, readIfExists, withBackupStore } from './store.js';

export const DRILL_RESULTS_FILE = 'restore-drills.json';
/** Results kept per server: enough history for show-backup without growing for ever. */
export const DRILL_RESULTS_KEPT = 50;

export type DrillStepStatus = 'ok' | 'failed' | 'skipped';

export interface DrillStep {
  /** `space`, `recover`, `wal`, `verifybackup`, `start`, `amcheck`, `probe`, `cleanup`. */
  name: string;
  status: DrillStepStatus;
  detail: string;
  seconds: number;
}

export interface DrillResult {
  backup_id: string;
  status: 'ok' | 'failed';
  /** ISO 8601 times. */
  started_at: string;
  ended_at: string;
  duration_seconds: number;
  /** The recovery target (`latest` when none was given). */
  target: string;
  /** The first failed step's detail, or null when the drill passed. */
  error: string | null;
  steps: DrillStep[];
}

interface DrillResultsFile {
  version: 1;
  server: string;
  results: DrillResult[];
}

function place(store: BackupStore): { storage: Storage; path: string } {
  return { storage: store.home ?? store.base, path: DRILL_RESULTS_FILE };
}

/** The server's drill results, newest first ([] before the first drill). */
export async function readDrillResults(store: BackupStore): Promise<DrillResult[]> {
  const { storage, path } = place(store);
  const data = await readIfExists(storage, path);
  if (data === null) return [];
  try {
    const parsed = JSON.parse(data.toString('utf8')) as Partial<DrillResultsFile>;
    if (!Array.isArray(parsed.results)) throw new Error('no "results" list');
    return parsed.results.filter(isDrillResult);
  } catch (error) {
    throw new BarmanError(
      'drill-results-unreadable',
      `cannot read the restore drill results ${displayPath(storage, path)}: ${describeError(error)}`,
      { hint: 'move the file aside: the next drill writes a new one' },
    );
  }
}

/** Adds a result (newest first), keeping the last DRILL_RESULTS_KEPT. */
export async function recordDrillResult(store: BackupStore, result: DrillResult): Promise<string> {
  const { storage, path } = place(store);
  const previous = await readDrillResults(store).catch(() => []);
  const document: DrillResultsFile = {
    version: 1,
    server: store.server,
    results: [result, ...previous].slice(0, DRILL_RESULTS_KEPT),
  };
  await storage.writeFile(path, `${JSON.stringify(document, null, 2)}\n`);
  return displayPath(storage, path);
}

/** The server's drill results, or the reason they cannot be read (listings show it, never fail). */
export async function loadDrillResults(
  config: ServerConfig,
): Promise<{ results: DrillResult[]; error: string | null }> {
  try {
    return { results: await withBackupStore(config, readDrillResults), error: null };
  } catch (error) {
    return { results: [], error: describeError(error) };
  }
}

function isDrillResult(value: unknown): value is DrillResult {
  const result = value as DrillResult;
  return (
    typeof result === 'object' &&
    result !== null &&
    typeof result.backup_id === 'string' &&
    (result.status === 'ok' || result.status === 'failed') &&
    typeof result.started_at === 'string' &&
    typeof result.duration_seconds === 'number' &&
    Array.isArray(result.steps)
  );
}

/** One line for listings: `ok at 2026-12-06T10:00:00Z (backup X, 42.1 s)`. */
export function describeDrill(result: DrillResult): string {
  const outcome = result.status === 'ok' ? 'passed' : `FAILED (${result.error ?? 'unknown'})`;
  return `${outcome} at ${result.ended_at} (backup ${result.backup_id}, target ${result.target}, ${result.duration_seconds.toFixed(1)} s)`;
}
