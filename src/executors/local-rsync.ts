/**
 * backup_method = local-rsync: barman-ts runs on the database host as the cluster owner and
 * copies PGDATA and tablespaces with parallel native copies (no rsync process, no SSH),
 * reusing unchanged files of the previous backup with hard links or local copies.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tablespace } from '../catalog/backup-info.js';
import { concurrentBackup } from './concurrent.js';
import { backupStrategyChecks, localPgdataCheck } from './file-copy-checks.js';
import type { CopyOptions } from '../transfer/copy-tree.js';
import { copyFileDurably, copyTree } from '../transfer/copy-tree.js';
import { pgdataFilter } from './pgdata.js';
import { CopyProgress, treeLabel } from './progress.js';
import type { BackupExecutor, BackupRequest } from './types.js';
import { bandwidthFor, createStartLimiter } from '../util/throttle.js';

export const localRsyncExecutor: BackupExecutor = {
  mode: 'rsync-concurrent',
  exclusiveMode: 'rsync-exclusive',
  checks: [localPgdataCheck, backupStrategyChecks],
  copyDescription: 'local copy',
  async run(request: BackupRequest) {
    return concurrentBackup(
      request,
      this.copyDescription,
      async ({ pgdata, tablespaces, exclusive }, signal) => {
        const { reuse, jobs, bandwidthLimit, tablespaceBandwidthLimit } = request.options;
        const startLimiter = createStartLimiter(request.options.startBatch, signal);
        const copy = async (
          source: string,
          into: string,
          tablespace: Tablespace | null,
          exclude: CopyOptions['exclude'],
        ) => {
          const progress = new CopyProgress(request.report, treeLabel(tablespace));
          await copyTree(source, join(request.backupDirectory, into), {
            onProgress: (done, total) => progress.update(done, total),
            exclude,
            reuseFrom: request.previous ? join(request.previous.directory, into) : null,
            reuse,
            jobs,
            bandwidthLimit: bandwidthFor(bandwidthLimit, tablespaceBandwidthLimit, tablespace?.name ?? null),
            startLimiter,
            signal,
            privateModes: true,
          });
          progress.finish();
        };
        for (const tablespace of tablespaces) {
          await copy(tablespace.location, String(tablespace.oid), tablespace, (relative, isDirectory) =>
            pgdataFilter(relative, isDirectory, true),
          );
        }
        await copy(pgdata, 'data', null, (relative, isDirectory) =>
          pgdataFilter(relative, isDirectory, false, exclusive),
        );
        signal.throwIfAborted();
        // pg_control last: it must not be older than any data file it describes.
        const data = join(request.backupDirectory, 'data');
        await mkdir(join(data, 'global'), { recursive: true });
        await copyFileDurably(join(pgdata, 'global', 'pg_control'), join(data, 'global', 'pg_control'), {
          privateModes: true,
        });
        return {};
      },
    );
  },
};
