/**
 * The checks of WAL archiving: the WAL archive (xlog.db), the incoming and streaming queues,
 * the compression settings, PostgreSQL's file archiving (archive_mode, archive_command,
 * continuous archiving) and the archiver's errors/ directory.
 */
import { basename, dirname } from 'node:path';
import { statusOf } from '../../../catalog/backups.js';
import { describeError } from '../../../errors/index.js';
import { PosixStorage } from '../../../storage/index.js';
import { compressBuffer, decompressBuffer } from '../../../transfer/compression/index.js';
import { wantedCompression } from '../../../wal/archiver.js';
import { customWalCompression } from '../../../wal/custom-compression.js';
import type { CheckContext } from './context.js';

export async function walArchiveCheck(ctx: CheckContext): Promise<void> {
  const layout = await ctx.layout();
  if (!layout) return;
  ctx.c.start('WAL archive');
  const xlogDb = await new PosixStorage(dirname(layout.xlogDbFile))
    .stat(basename(layout.xlogDbFile))
    .catch(() => null);
  if ((xlogDb?.size ?? 0) > 0) return;
  const catalog = await ctx.catalog();
  if (catalog?.backups.some((backup) => statusOf(backup) === 'WAITING_FOR_WALS')) return;
  ctx.c.add('WAL archive', false, 'please make sure WAL shipping is setup');
}

export async function walQueueCheck(ctx: CheckContext, kind: 'incoming' | 'streaming'): Promise<void> {
  const directory =
    kind === 'incoming' ? ctx.config.incoming_wals_directory : ctx.config.streaming_wals_directory;
  const archiver = kind === 'incoming' ? 'archiver' : 'streaming_archiver';
  const enabled = kind === 'incoming' ? ctx.config.archiver : ctx.config.streaming_archiver;
  const names = await dropBoxNames(directory);
  // Like a shell glob: hidden files and temp files do not count.
  let count = names.filter((name) => !name.startsWith('.') && !name.endsWith('.tmp')).length;
  // pg_receivewal always keeps its current .partial file there.
  if (kind === 'streaming') count -= 1;
  ctx.c.start(`empty ${kind} directory`);
  if (!enabled) {
    if (count > 0) {
      ctx.c.add(`empty ${kind} directory`, false, `'${directory}' must be empty when ${archiver}=off`);
    }
    return;
  }
  const max = ctx.config.max_incoming_wals_queue;
  if (max === null || max === undefined) return;
  ctx.c.start(`${kind} WALs directory`);
  if (count > max) {
    ctx.c.add(`${kind} WALs directory`, false, `there are too many WALs in queue: ${count}, max ${max}`);
  }
}

/** The names in a local drop box (incoming/, streaming/, errors/); none when it cannot be listed. */
async function dropBoxNames(directory: string): Promise<string[]> {
  const entries = await new PosixStorage(directory).list('').catch(() => []);
  return entries.map((entry) => entry.name);
}

/** The configured WAL compression really works: a sample goes through it and back. */
export async function compressionCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start('compression settings');
  const name = wantedCompression(ctx.config);
  if (name === null) {
    ctx.c.add('compression settings', true);
    return;
  }
  const sample = Buffer.from('barman check: compression test\n'.repeat(64));
  const custom = customWalCompression(ctx.config);
  try {
    const compressed = await compressBuffer(name, sample, { level: ctx.config.compression_level, custom });
    const restored = await decompressBuffer(name, compressed, { custom });
    if (!restored.equals(sample))
      throw new Error(`${name} decompression does not give back the original data`);
    ctx.c.add('compression settings', true);
  } catch (error) {
    ctx.c.add('compression settings', false, describeError(error));
  }
}

export async function fileArchiverChecks(ctx: CheckContext): Promise<void> {
  ctx.c.start('archive_mode');
  const pg = await ctx.pg();
  if (pg.archiveMode === null) return; // no connection: reported by the PostgreSQL check
  if (pg.archiveMode === 'on' || pg.archiveMode === 'always') ctx.c.add('archive_mode', true);
  else ctx.c.add('archive_mode', false, "please set it to 'on' or 'always'");

  ctx.c.start('archive_command');
  if (pg.archiveCommand && pg.archiveCommand !== '(disabled)') {
    ctx.c.add('archive_command', true);
    if (pg.archiver !== null) {
      ctx.c.start('continuous archiving');
      const archiver = pg.archiver;
      ctx.c.add(
        'continuous archiving',
        archiver.isArchiving,
        archiver.isArchiving || !archiver.lastFailedWal
          ? null
          : `last failed attempt: ${archiver.lastFailedWal}, failures: ${archiver.failedCount}`,
      );
    }
  } else {
    ctx.c.add('archive_command', false, 'please set it accordingly to documentation');
  }
}

export async function archiverErrorsCheck(ctx: CheckContext): Promise<void> {
  ctx.c.start('archiver errors');
  const names = await dropBoxNames(ctx.config.errors_directory);
  ctx.c.add('archiver errors', names.length === 0, summariseErrorFiles(names));
}

/** `duplicates: 2, unknown: 1`: errors/ files counted by kind, in order of first appearance. */
export function summariseErrorFiles(names: readonly string[]): string | null {
  if (names.length === 0) return null;
  const counters = new Map<string, number>();
  for (const name of names) {
    const kind = name.endsWith('.error')
      ? 'not relevant'
      : name.endsWith('.duplicate')
        ? 'duplicates'
        : name.endsWith('.unknown')
          ? 'unknown'
          : 'unknown failure';
    counters.set(kind, (counters.get(kind) ?? 0) + 1);
  }
  return [...counters].map(([kind, count]) => `${kind}: ${count}`).join(', ');
}
