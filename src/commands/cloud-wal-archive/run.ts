/**
 * cloud-wal-archive: PostgreSQL's archive_command into object storage. Exit 0 means the WAL file
 * is safe: uploaded and verified (synchronous mode), or durably queued in the local spool
 * (--async). Any failure, including no answer from S3 within --timeout, exits 1 so PostgreSQL
 * keeps the file and retries. The AWS SDK is loaded only by the synchronous path.
 */
import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { BarmanError } from '../../errors/index.js';
import { defineCommandModule } from '../definition.js';
import { startCloudUploader } from '../shared/cloud-uploader.js';
import { selectServers } from '../shared/select-servers.js';
import { encryptionKeyOf } from '../../transfer/gpg.js';
import { passphraseSourceOf } from '../../transfer/passphrase.js';
import { cloudWalCompression } from '../../wal/cloud-layout.js';

interface Result {
  lines: string[];
}

/** After --timeout, how long an interrupted multipart upload may take to be aborted. */
const ABORT_GRACE_MS = 5000;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const serverName = input.args.server_name as string;
    const file = input.args.wal_path as string;
    const [server] = selectServers(ctx, [serverName], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return { lines: [] };
    if (!server.config.active) throw new BarmanError('server-inactive', `Inactive server: ${serverName}`);
    const config = server.config;
    if (config.wals_directory.kind !== 's3') {
      throw new BarmanError(
        'not-a-cloud-server',
        `server '${serverName}': 'wals_directory' must be an s3:// URL for cloud-wal-archive`,
        { hint: 'set wals_directory = s3://BUCKET/PREFIX/SERVER/wals, or use put-wal for a local archive' },
      );
    }
    // A whole number of seconds, at least 1, checked by the CLI.
    const timeoutSeconds = Number(input.options.timeout ?? 60);
    const log = ctx.log.child({ server: serverName });
    if (input.options.test !== true) {
      try {
        await access(file, constants.R_OK);
      } catch (error) {
        throw new BarmanError(
          'wal-unreadable',
          `cannot read the WAL file '${file}': ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        );
      }
    }

    if (input.options.async === true && input.options.test !== true) {
      const { enqueueWal } = await import('../../wal/cloud-spool.js');
      // encryption = gpg: the spool keeps the file compressed and encrypted, never plaintext.
      const keyId = encryptionKeyOf(config);
      const sealing =
        keyId === null
          ? null
          : {
              keyId,
              compression: cloudWalCompression(config),
              level: config.compression_level,
              passphrase: passphraseSourceOf(config),
            };
      const outcome = await enqueueWal(config.incoming_wals_directory, file, sealing);
      log.info(`${outcome === 'queued' ? 'queued' : 'already queued'} ${file} for upload`);
      try {
        const pid = await startCloudUploader(config, ctx.config.configFile);
        if (pid !== null) log.debug(`started cloud-wal-upload (pid ${pid})`);
      } catch (error) {
        // The file is durable in the spool: cron starts a worker if this one could not be.
        ctx.report.warning(`cannot start the upload worker: ${(error as Error).message}`);
      }
      return { lines: [] };
    }

    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        controller.abort();
        reject(
          new BarmanError(
            'cloud-wal-archive-timeout',
            `${file} was not archived: no complete answer from ${config.wals_directory.kind === 's3' ? config.wals_directory.url : ''} within ${timeoutSeconds} s`,
            { hint: 'PostgreSQL keeps the file and retries; check the network and aws_endpoint_url' },
          ),
        );
      }, timeoutSeconds * 1000);
    });
    const { archiveWalToCloud, openCloudWalTarget } = await import('../../wal/cloud-archive.js');
    const target = await openCloudWalTarget(config, { signal: controller.signal });
    try {
      if (input.options.test === true) {
        await Promise.race([target.archive.storage.checkAccess(), timeout]);
        return {
          lines: [`Ready to archive WAL files of the server ${serverName} into ${target.archive.location}`],
        };
      }
      const archiving = archiveWalToCloud(target, file);
      archiving.catch(() => {}); // awaited below, or settled after the timeout won the race
      let outcome: Awaited<typeof archiving>;
      try {
        outcome = await Promise.race([archiving, timeout]);
      } catch (error) {
        // The abort signal ends the requests in flight at once, but a multipart upload then
        // needs one more request to abort it: wait a little for it, or its parts stay stored
        // (and billed) with nothing left to clean them up.
        if (timedOut) await Promise.race([archiving.catch(() => {}), delay(ABORT_GRACE_MS)]);
        throw error;
      }
      log.info(
        outcome.status === 'uploaded'
          ? `uploaded ${outcome.name} to ${target.archive.location}/${outcome.path} (${outcome.bytes} bytes)`
          : `${outcome.name} is already archived with the same content`,
      );
      return { lines: [] };
    } finally {
      clearTimeout(timer);
      target.archive.close();
    }
  },
  renderConsole: (result) => result.lines,
  renderJson: (result) => (result.lines.length > 0 ? { _INFO: result.lines } : null),
});
