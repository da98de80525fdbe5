/**
 * backup_method = local-rsync: barman-ts runs on the database host as the cluster owner and
 * copies PGDATA and tablespaces with parallel native copies (no rsync process, no SSH),
 * reusing unchanged files of the previous backup with hard links or local copies.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { concurrentBackup } from './concurrent.js';
import { copyFileDurably, copyTree } from './copy-tree.js';
import { pgdataFilter } from './pgdata.js';
import type { BackupExecutor, BackupRequest } from './types.js';

export const localRsyncExecutor: BackupExecutor = {
  mode: 'rsync-concurrent',
  copyDescription: 'local copy',
  async run(request: BackupRequest) {
    return concurrentBackup(request, this.copyDescription, async ({ pgdata, tablespaces }, signal) => {
      const { reuse, jobs, bandwidthLimit } = request.options;
      for (const tablespace of tablespaces) {
        await copyTree(tablespace.location, join(request.backupDirectory, String(tablespace.oid)), {
          exclude: (relative, isDirectory) => pgdataFilter(relative, isDirectory, true),
          reuseFrom: request.previous ? join(request.previous.directory, String(tablespace.oid)) : null,
          reuse,
          jobs,
          bandwidthLimit,
          signal,
        });
      }
      const data = join(request.backupDirectory, 'data');
      await copyTree(pgdata, data, {
        onProgress: (done, total) =>
          request.report.progress?.({
            label: 'PGDATA',
            bytesDone: done.bytes,
            bytesTotal: total.bytes,
            filesDone: done.files,
            filesTotal: total.files,
            final: done.files === total.files,
          }),
        exclude: pgdataFilter,
        reuseFrom: request.previous ? join(request.previous.directory, 'data') : null,
        reuse,
        jobs,
        bandwidthLimit,
        signal,
      });
      signal.throwIfAborted();
      // pg_control last: it must not be older than any data file it describes.
      await mkdir(join(data, 'global'), { recursive: true });
      await copyFileDurably(join(pgdata, 'global', 'pg_control'), join(data, 'global', 'pg_control'));
      return {};
    });
  },
};
