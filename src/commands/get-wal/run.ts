import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { once } from 'node:events';
import { BarmanError } from '../../errors/index.js';
import { isSystemError, systemErrorHint, systemErrorMessage } from '../../errors/system.js';
import { writeFileDurably } from '../../storage/durable-files.js';
import type { CompressionName } from '../../transfer/compression/index.js';
import { createCompressStream } from '../../transfer/compression/index.js';
import type { LocatedWal } from '../../wal/get-wal.js';
import { locateWal, openLocated, openWalSources, peekWals } from '../../wal/get-wal.js';
import { DEFAULT_SEGMENT_SIZE, parseWalName } from '../../wal/names.js';
import { parseWalHeader, WAL_HEADER_LENGTH } from '../../wal/wal-header.js';
import type { ServerConfig } from '../../config/index.js';
import type { CommandInput } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

type Result =
  | { mode: 'lines'; lines: string[] }
  | { mode: 'stream'; open: () => Promise<Readable>; recompress: CompressionName | null };

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const serverName = input.args.server_name as string;
    const walName = input.args.wal_name as string;
    const options = input.options;
    const [server] = selectServers(ctx, [serverName], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return { mode: 'lines', lines: [] };
    if (!server.config.active) throw new BarmanError('server-inactive', `Inactive server: ${serverName}`);
    if (options.test === true)
      return { mode: 'lines', lines: [`Ready to retrieve WAL files from the server ${serverName}`] };

    const wal = parseWalName(walName);
    if (!wal || wal.name.toUpperCase() !== walName.toUpperCase() || walName.includes('/')) {
      throw new BarmanError('bad-wal-name', `'${walName}' is not a valid wal file name`, {
        exit: 'badWalName',
      });
    }
    const keep = options.keepCompression === true;
    const recompress: CompressionName | null =
      options.gzip === true || options.x === true ? 'gzip' : options.bzip2 === true ? 'bzip2' : null;
    const source = await walSource(server.config, wal.name, serverName, options, keep);
    if (Array.isArray(source)) return { mode: 'lines', lines: source };

    const directory = options.outputDirectory as string | undefined;
    if (directory !== undefined) {
      const target = join(directory, wal.name);
      ctx.report.info(`Sending WAL '${wal.name}' for server '${serverName}' into '${target}' file`);
      try {
        await writeFileDurably(target, recompressed(await source(), recompress), { mode: 0o600 });
      } catch (error) {
        // The output directory cannot take the file: Barman's exit code 3. A damaged archived
        // file (or a failed read of it) is reported as it is, exit 1.
        if (isSystemError(error) && error.path === target) {
          const hint = systemErrorHint(error);
          throw new BarmanError('output-unwritable', systemErrorMessage(error), {
            exit: 'badWalName',
            ...(hint ? { hint } : {}),
            cause: error,
          });
        }
        throw error;
      }
      return { mode: 'lines', lines: [] };
    }
    return { mode: 'stream', open: source, recompress };
  },

  renderConsole: (result) => (result.mode === 'lines' ? result.lines : []),
  // Barman 3.4 prints `--peek`'s names and `--test`'s line under `_INFO`.
  renderJson: (result) =>
    result.mode === 'lines' && result.lines.length > 0 ? { _INFO: result.lines } : null,

  async writeRaw(result, stdout) {
    if (result.mode === 'lines') return false;
    const stream = recompressed(await result.open(), result.recompress);
    for await (const chunk of stream) {
      if (!stdout.write(chunk as Buffer)) await once(stdout, 'drain');
    }
    // stdout may be a pipe (restore_command): the process must not exit before it is flushed.
    await new Promise<void>((resolve) => stdout.write('', () => resolve()));
    return true;
  },
});

/** The WAL stream compressed with `compression` (--gzip, --bzip2); a failure of either side ends it. */
function recompressed(source: Readable, compression: CompressionName | null): Readable {
  if (!compression) return source;
  return pipeline(source, createCompressStream(compression, {}), () => {});
}

/** Opens the WAL file from the server's archive (or incoming/, streaming/); with --peek, the names that follow. */
async function walSource(
  config: ServerConfig,
  walName: string,
  serverName: string,
  options: CommandInput['options'],
  keep: boolean,
): Promise<(() => Promise<Readable>) | string[]> {
  const sources = await openWalSources(config);
  let keepOpen = false;
  try {
    if (options.peek !== undefined) {
      const count = Number(options.peek); // at least 1, checked by the CLI
      const first = await locateWal(sources, walName, false);
      const segmentSize = first ? await segmentSizeOf(first) : DEFAULT_SEGMENT_SIZE;
      return await peekWals(sources, walName, count, segmentSize);
    }
    const found = await locateWal(sources, walName, options.partial === true);
    if (!found) {
      const where = sources.archive.layout === 'barman-cloud' ? ` (${sources.archive.location})` : '';
      throw new BarmanError(
        'wal-not-found',
        `WAL file '${walName}' not found in server '${serverName}'${where}`,
      );
    }
    keepOpen = true;
    return async () => {
      const stream = await openLocated(found, { raw: keep });
      stream.once('close', () => sources.close());
      return stream;
    };
  } finally {
    if (!keepOpen) sources.close();
  }
}

/** Segment size from a WAL file's header (decompressing as needed); the default when unreadable. */
async function segmentSizeOf(found: LocatedWal): Promise<number> {
  const stream = await openLocated(found);
  try {
    for await (const chunk of stream) {
      const header = parseWalHeader((chunk as Buffer).subarray(0, WAL_HEADER_LENGTH));
      return 'invalid' in header ? DEFAULT_SEGMENT_SIZE : header.segmentSize;
    }
  } finally {
    stream.destroy();
  }
  return DEFAULT_SEGMENT_SIZE;
}
