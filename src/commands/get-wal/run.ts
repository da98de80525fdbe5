import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { once } from 'node:events';
import { serverLayout } from '../../catalog/layout.js';
import { BarmanError, UsageError } from '../../errors/index.js';
import { writeFileDurably } from '../../storage/posix.js';
import { customWalCompression } from '../../wal/custom-compression.js';
import { openDecompressed } from '../../wal/compare.js';
import type { CompressionName } from '../../wal/compression/index.js';
import { createCompressStream } from '../../wal/compression/index.js';
import { locateWal, peekWals } from '../../wal/get-wal.js';
import { DEFAULT_SEGMENT_SIZE, parseWalName } from '../../wal/names.js';
import { parseWalHeader, WAL_HEADER_LENGTH } from '../../wal/wal-header.js';
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
    const layout = serverLayout(server.config);
    const custom = customWalCompression(server.config);

    if (options.peek !== undefined) {
      const count = Number(options.peek);
      if (!Number.isInteger(count) || count < 1) throw new UsageError('--peek needs a positive number');
      const first = await locateWal(layout, wal.name, false);
      const segmentSize = first ? await segmentSizeOf(first.path, custom) : DEFAULT_SEGMENT_SIZE;
      return { mode: 'lines', lines: await peekWals(layout, wal.name, count, segmentSize) };
    }

    const found = await locateWal(layout, wal.name, options.partial === true);
    if (!found)
      throw new BarmanError('wal-not-found', `WAL file '${wal.name}' not found in server '${serverName}'`);
    const keep = options.keepCompression === true;
    const recompress: CompressionName | null =
      options.gzip === true || options.x === true ? 'gzip' : options.bzip2 === true ? 'bzip2' : null;
    const source = () =>
      keep ? Promise.resolve(createReadStream(found.path)) : openDecompressed(found.path, custom);

    const directory = options.outputDirectory as string | undefined;
    if (directory !== undefined) {
      const target = join(directory, wal.name);
      ctx.report.info(`Sending WAL '${wal.name}' for server '${serverName}' into '${target}' file`);
      try {
        const stream = await source();
        await writeFileDurably(
          target,
          recompress ? stream.pipe(createCompressStream(recompress, {})) : stream,
          {
            mode: 0o600,
          },
        );
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'ENOENT' || code === 'ENOTDIR' || code === 'EROFS') {
          throw new BarmanError('output-unwritable', `cannot write '${target}': ${code}`, {
            exit: 'badWalName',
          });
        }
        throw error;
      }
      return { mode: 'lines', lines: [] };
    }
    return { mode: 'stream', open: source, recompress };
  },

  renderConsole: (result) => (result.mode === 'lines' ? result.lines : []),
  renderJson: (result) => (result.mode === 'lines' ? result.lines : null),

  async writeRaw(result, stdout) {
    if (result.mode === 'lines') {
      if (result.lines.length > 0) stdout.write(`${result.lines.join('\n')}\n`);
      return;
    }
    const source = await result.open();
    const stream = result.recompress ? source.pipe(createCompressStream(result.recompress, {})) : source;
    for await (const chunk of stream) {
      if (!stdout.write(chunk as Buffer)) await once(stdout, 'drain');
    }
    // stdout may be a pipe (restore_command): the process must not exit before it is flushed.
    await new Promise<void>((resolve) => stdout.write('', () => resolve()));
  },
});

/** Segment size from a WAL file's header (decompressing as needed); the default when unreadable. */
async function segmentSizeOf(path: string, custom: ReturnType<typeof customWalCompression>): Promise<number> {
  const stream = await openDecompressed(path, custom);
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
