/**
 * Checks of a server whose WAL archive is in object storage (wals_directory = s3://...): the
 * bucket answers, accepts a write (a small object written and deleted again; not with worm_mode,
 * whose objects are locked: object-lock-checks.ts checks that bucket), and the archived
 * segments of each timeline follow one another without holes.
 */
import type { ServerConfig } from '../../../config/index.js';
import { describeError } from '../../../errors/index.js';
import { missingSegments, parseCloudWalPath } from '../../../wal/cloud-layout.js';
import { DEFAULT_SEGMENT_SIZE } from '../../../wal/names.js';
import type { CheckCollector } from './results.js';

export async function runCloudWalChecks(
  config: ServerConfig,
  c: CheckCollector,
  signal: AbortSignal,
  segmentSize: number = DEFAULT_SEGMENT_SIZE,
): Promise<void> {
  // Loaded here: the AWS SDK is only for servers that use it.
  const { openCloudWalTarget } = await import('../../../wal/cloud-archive.js');
  const { archive } = await openCloudWalTarget(config, { signal });
  const { storage } = archive;
  try {
    c.start('cloud WAL archive');
    try {
      await storage.checkAccess();
      // worm_mode: a probe object would be locked for worm_object_lock_retention, and could not
      // be removed; `s3 object lock` checks what such a bucket does instead.
      if (!config.worm_mode) {
        const probe = `.barman-ts-check-${process.pid}`;
        await storage.writeFile(probe, `barman-ts check of server ${config.name}\n`);
        await storage.remove(probe);
      }
    } catch (error) {
      c.add('cloud WAL archive', false, describeError(error));
      return;
    }
    c.add(
      'cloud WAL archive',
      true,
      `${storage.location} is reachable${config.worm_mode ? ' (worm_mode: no write probe)' : ' and writable'}`,
    );

    c.start('cloud WAL continuity');
    const names = (await storage.listTree('')).flatMap((object) => {
      const parsed = parseCloudWalPath(object.path);
      return parsed ? [parsed.name] : [];
    });
    const missing = missingSegments(names, segmentSize);
    if (missing.length > 0) {
      c.add(
        'cloud WAL continuity',
        false,
        `${missing.length} segment(s) missing from ${storage.location}, the first is ${missing[0]}`,
      );
    } else {
      c.add('cloud WAL continuity', true, names.length === 0 ? 'no WAL archived yet' : null);
    }
  } finally {
    archive.close();
  }
}
