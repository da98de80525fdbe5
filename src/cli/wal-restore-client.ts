/**
 * barman-wal-restore: PostgreSQL's restore_command on a recovering host. Fetches a WAL file from
 * `barman get-wal` over ssh into %p. With `-p N` it asks for the next N-1 names (`--peek`) and
 * prefetches them in parallel into a spool directory, from which later calls are served.
 * Compatible with Barman's client: same options; exit 0 ok, 1 not found (get-wal's code),
 * 2 for local errors and ssh failures. `--keep-compression` (Barman 3.13) asks get-wal for the
 * archived file as stored, so it crosses the network compressed; it is recognised by its magic
 * bytes and decompressed here before it is renamed to %p, which always gets the plain WAL.
 */
import { createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command, CommanderError } from 'commander';
import { shellQuote, spawnPiped } from '../process/spawn.js';
import { isSystemError, systemErrorMessage } from '../errors/system.js';
import { barmanTsVersion } from '../util/version.js';
import { parseWalName } from '../wal/names.js';
import { numberProblem, PORT_RANGE, SECONDS } from '../util/whole-number.js';

interface Options {
  user: string;
  port?: string;
  config?: string;
  test?: boolean;
  sleep: string;
  parallel: string;
  spoolDir: string;
  partial?: boolean;
  gzip?: boolean;
  bzip2?: boolean;
  keepCompression?: boolean;
}

export async function walRestoreMain(argv: readonly string[]): Promise<number> {
  const program = new Command('barman-wal-restore')
    .description("Fetch a WAL file from barman-ts's get-wal over ssh (restore_command)")
    .argument('<barman_host>', 'the host where barman-ts runs')
    .argument('<server_name>', 'the server name in the barman-ts configuration')
    .argument('<wal_name>', 'the WAL file name (%f)')
    .argument('<wal_dest>', 'where to write it (%p)')
    .option('-U, --user <user>', 'user on the barman host', 'barman')
    .option('--port <port>', 'ssh port on the barman host')
    .option('-c, --config <file>', 'configuration file on the barman host')
    .option('-t, --test', 'test the connection and configuration only')
    .option('-s, --sleep <seconds>', 'seconds to wait after a failure (slows retries down)', '0')
    .option('-p, --parallel <jobs>', 'prefetch this many WAL files in parallel', '0')
    .option('--spool-dir <dir>', 'where prefetched WAL files wait', '/var/tmp/walrestore')
    .option('-P, --partial', 'also fetch a .partial file being streamed')
    .option('-z, --gzip', 'transfer compressed with gzip')
    .option('-j, --bzip2', 'transfer compressed with bzip2')
    .option('--keep-compression', 'transfer the file as archived (compressed), decompress it once received')
    .version(barmanTsVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({ outputError: (text, write) => write(`ERROR: ${text.replace(/^error: /, '')}`) });
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError)
      return ['commander.version', 'commander.helpDisplayed'].includes(error.code) ? 0 : 2;
    throw error;
  }
  const [host, server, walName, walDest] = program.args as [string, string, string, string];
  const options = program.opts<Options>();
  const badNumber =
    (options.port === undefined ? null : numberProblem('--port', options.port, PORT_RANGE)) ??
    numberProblem('--sleep', options.sleep, SECONDS) ??
    numberProblem('--parallel', options.parallel, { min: 0, max: 1000 });
  if (badNumber) return fail(badNumber);
  if ([options.gzip, options.bzip2, options.keepCompression].filter(Boolean).length > 1)
    return fail('-z/--gzip, -j/--bzip2 and --keep-compression cannot be combined: choose one');
  const remote = (args: string[]) => [
    '-q',
    '-T',
    ...(options.port ? ['-p', options.port] : []),
    `${options.user}@${host}`,
    ['barman', ...(options.config ? [`--config=${options.config}`] : []), ...args].map(shellQuote).join(' '),
  ];
  const compression = options.gzip ? 'gzip' : options.bzip2 ? 'bzip2' : null;

  if (options.test) {
    const run = spawnPiped('ssh', remote(['get-wal', '--test', server, walName]));
    run.stdin.end();
    run.stdout.pipe(process.stdout);
    return mapExit(await run.exit.catch(() => 255));
  }

  const spooled = join(options.spoolDir, walName);
  if (await exists(spooled)) {
    try {
      await moveFile(spooled, walDest);
      return 0;
    } catch (error) {
      return fail(
        `cannot move ${spooled} to ${walDest}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
      );
    }
  }

  const fetch = async (name: string, destination: string): Promise<number> => {
    const args = [
      'get-wal',
      ...(compression ? [`--${compression}`] : []),
      ...(options.keepCompression ? ['--keep-compression'] : []),
      ...(options.partial ? ['--partial'] : []),
      server,
      name,
    ];
    const child = spawnPiped('ssh', remote(args), 'inherit');
    child.stdin.end();
    const temp = `${destination}.barman-ts.tmp`;
    try {
      const body: Readable = compression ? child.stdout.pipe(await decompressor(compression)) : child.stdout;
      await pipeline(body, createWriteStream(temp, { mode: 0o600 }));
    } catch (error) {
      await rm(temp, { force: true });
      const code = await child.exit.catch(() => 255);
      // The destination cannot be written: Barman's client exits 3 for WAL_DEST.
      if (isSystemError(error) && error.path === temp) {
        process.stderr.write(
          `ERROR: ${systemErrorMessage({ ...error, message: error.message, path: destination })}\n`,
        );
        return 3;
      }
      return code !== 0 ? code : fail(`receiving ${name} failed: ${(error as Error).message}`);
    }
    const code = await child.exit.catch(() => 255);
    if (code !== 0) {
      await rm(temp, { force: true });
      return code;
    }
    if (options.keepCompression) {
      try {
        await decompressInPlace(temp, name);
      } catch (error) {
        await rm(temp, { force: true });
        return fail(`cannot decompress ${name} received from get-wal: ${(error as Error).message}`);
      }
    }
    await rename(temp, destination);
    return 0;
  };

  const jobs = Number(options.parallel);
  let prefetching: Promise<unknown> = Promise.resolve();
  if (jobs > 1) {
    const peek = spawnPiped('ssh', remote(['get-wal', '--peek', String(jobs), server, walName]), 'inherit');
    peek.stdin.end();
    const chunks: Buffer[] = [];
    for await (const chunk of peek.stdout) chunks.push(chunk as Buffer);
    if ((await peek.exit.catch(() => 255)) === 0) {
      const following = Buffer.concat(chunks)
        .toString()
        .split('\n')
        .filter((name) => name && name !== walName);
      await mkdir(options.spoolDir, { recursive: true });
      // Prefetch failures are not errors: PostgreSQL asks for those files again later. They run
      // in parallel with the requested file's own transfer, as in Barman's client.
      prefetching = Promise.all(
        following.map((name) => fetch(name, join(options.spoolDir, name)).catch(() => 2)),
      );
    }
  }
  await mkdir(dirname(walDest), { recursive: true }).catch(() => {});
  const fetched = await fetch(walName, walDest);
  if (fetched === 255)
    process.stderr.write(`ERROR: Connection problem with ssh to ${options.user}@${host}\n`);
  const code = mapExit(fetched);
  await prefetching;
  if (code !== 0 && Number(options.sleep) > 0)
    await new Promise((resolve) => setTimeout(resolve, Number(options.sleep) * 1000));
  return code;
}

async function decompressor(name: 'gzip' | 'bzip2') {
  const { createDecompressStream } = await import('../transfer/compression/index.js');
  return createDecompressStream(name, {});
}

/**
 * A file get-wal --keep-compression sent, decompressed where it is when its magic says so. A
 * segment whose compression is not recognised (custom_compression_filter) and whose size is not
 * a WAL segment size is refused rather than handed to PostgreSQL as it is.
 */
async function decompressInPlace(path: string, name: string): Promise<void> {
  const { decompressFile, identifyCompression, MAGIC_HEADER_LENGTH } =
    await import('../transfer/compression/index.js');
  const handle = await open(path, 'r');
  const header = Buffer.alloc(MAGIC_HEADER_LENGTH);
  try {
    await handle.read(header, 0, header.length, 0);
  } finally {
    await handle.close();
  }
  const compression = identifyCompression(header);
  if (compression === null) {
    const size = (await stat(path)).size;
    const segmentSize = size >= 1 << 20 && size <= 1 << 30 && (size & (size - 1)) === 0;
    if (parseWalName(name)?.kind === 'segment' && !segmentSize) {
      throw new Error(
        `its ${size} bytes are neither a WAL segment nor a compression barman-wal-restore knows (custom compression?): fetch it without --keep-compression`,
      );
    }
    return; // archived uncompressed
  }
  const plain = `${path}.plain`;
  try {
    await decompressFile(compression, path, plain);
    await rename(plain, path);
  } finally {
    await rm(plain, { force: true });
  }
}

function mapExit(code: number): number {
  return code === 255 ? 2 : code;
}

/**
 * rename(), or copy + unlink when the spool dir (default /var/tmp/walrestore) is on another
 * filesystem than %p (EXDEV), as Barman's client copies it.
 */
async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    const temp = `${to}.barman-ts.tmp`;
    try {
      await copyFile(from, temp);
      await rename(temp, to);
    } catch (copyError) {
      await rm(temp, { force: true });
      throw copyError;
    }
    await rm(from, { force: true });
  }
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null)) !== null;
}

function fail(message: string): number {
  process.stderr.write(`ERROR: ${message}\n`);
  return 2;
}
