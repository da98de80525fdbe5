/**
 * cloud-wal-upload: the worker that empties the spool of `cloud-wal-archive --async` into the
 * s3:// wals_directory. One per server (lock); when another runs, this one exits at once.
 */
import { join } from 'node:path';
import { BarmanError } from '../../errors/index.js';
import { openCloudWalTarget } from '../../wal/cloud-archive.js';
import { spooledWals } from '../../wal/cloud-spool.js';
import { runSpoolUploader } from '../../wal/cloud-upload-worker.js';
import { defineCommandModule } from '../definition.js';
import { cloudUploadLockPath } from '../shared/cloud-uploader.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  server: string;
  ran: boolean;
  uploaded: string[];
  rejected: string[];
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const serverName = input.args.server_name as string;
    const [server] = selectServers(ctx, [serverName], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return { server: serverName, ran: false, uploaded: [], rejected: [] };
    if (!server.config.active) throw new BarmanError('server-inactive', `Inactive server: ${serverName}`);
    // Whole numbers in range, checked by the CLI.
    const jobs = Number(input.options.jobs ?? 4);
    const idleSeconds = Number(input.options.waitIdle ?? 0);
    const config = server.config;
    const target = await openCloudWalTarget(config);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    try {
      const result = await runSpoolUploader(target, {
        spoolDirectory: config.incoming_wals_directory,
        errorsDirectory: config.errors_directory,
        lockPath: cloudUploadLockPath(config),
        jobs,
        idleMs: idleSeconds * 1000,
        log: ctx.log.child({ server: serverName, spool: join(config.incoming_wals_directory) }),
        signal: stop.signal,
        onProblem: (message) => ctx.report.warning(message),
      });
      if (!result.ran)
        ctx.report.info(`Another cloud-wal-upload is already running for server ${serverName}`);
      for (const name of result.rejected)
        ctx.report.error(
          `${name} differs from the copy already in ${target.archive.location}; kept in ${config.errors_directory}`,
        );
      const left = result.ran ? (await spooledWals(config.incoming_wals_directory)).length : 0;
      if (left > 0)
        ctx.report.warning(
          `${left} WAL file(s) are still queued in ${config.incoming_wals_directory}: the next cloud-wal-upload (or cron) uploads them`,
        );
      return { server: serverName, ran: result.ran, uploaded: result.uploaded, rejected: result.rejected };
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      target.archive.close();
    }
  },
  renderConsole: (result) =>
    result.ran ? [`Uploaded ${result.uploaded.length} WAL file(s) of server ${result.server}`] : [],
  renderJson: (result) => ({ ...result }),
});
