/**
 * barman-wal-archive: PostgreSQL's archive_command on the database host. Streams the WAL file
 * and its SHA-256 as a tar archive over ssh to `barman put-wal SERVER` on the barman host; the
 * exit code is 0 only when put-wal has stored the file durably. Compatible with Barman's client:
 * same options, same exit codes (0 ok, 2 local error, 3 ssh failure, else put-wal's code).
 * `--gzip` … `--lz4` (Barman 3.14) compress the file here, into a private temporary directory,
 * before it is sent under its own name: put-wal and archive-wal recognise the compression by its
 * magic bytes and archive the file as it came.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { shellQuote, spawnPiped } from '../process/spawn.js';
import { barmanTsVersion } from '../util/version.js';
import { numberProblem, PORT_RANGE } from '../util/whole-number.js';
import { TAR_END, tarMemberHeader, tarPadding } from '../transfer/tar-writer.js';

interface Options {
  user: string;
  port?: string;
  config?: string;
  test?: boolean;
  md5?: boolean;
  gzip?: boolean;
  bzip2?: boolean;
  xz?: boolean;
  snappy?: boolean;
  zstd?: boolean;
  lz4?: boolean;
  compressionLevel?: string;
}

/** The client-side compressions, as Barman 3.14's barman-wal-archive names its flags. */
const CLIENT_COMPRESSIONS = ['gzip', 'bzip2', 'xz', 'snappy', 'zstd', 'lz4'] as const;
type ClientCompression = (typeof CLIENT_COMPRESSIONS)[number];

export async function walArchiveMain(argv: readonly string[]): Promise<number> {
  const program = new Command('barman-wal-archive')
    .description("Send a WAL file to barman-ts's put-wal over ssh (archive_command)")
    .argument('<barman_host>', 'the host where barman-ts runs')
    .argument('<server_name>', 'the server name in the barman-ts configuration')
    .argument('<wal_path>', 'the WAL file to archive (%p)')
    .option('-U, --user <user>', 'user on the barman host', 'barman')
    .option('--port <port>', 'ssh port on the barman host')
    .option('-c, --config <file>', 'configuration file on the barman host')
    .option('-t, --test', 'test the connection and configuration only')
    .option('--md5', 'send MD5SUMS instead of SHA256SUMS (for Barman older than 3.12)')
    .option('-z, --gzip', 'gzip-compress the WAL file before sending it')
    .option('-j, --bzip2', 'bzip2-compress the WAL file before sending it')
    .option('--xz', 'xz-compress the WAL file before sending it')
    .option('--snappy', 'snappy-compress the WAL file before sending it')
    .option('--zstd', 'zstd-compress the WAL file before sending it')
    .option('--lz4', 'lz4-compress the WAL file before sending it')
    .option(
      '--compression-level <level>',
      "level of the chosen compression: low, medium, high or an integer in the algorithm's range",
    )
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
  const [host, server, walPath] = program.args as [string, string, string];
  const options = program.opts<Options>();
  const badPort = options.port === undefined ? null : numberProblem('--port', options.port, PORT_RANGE);
  if (badPort) return fail(badPort);
  if (!options.test && !walPath) return fail('a WAL path is required');
  const compression = await clientCompression(options);
  if (typeof compression === 'string') return fail(compression);

  const remote = [
    'barman',
    ...(options.config ? [`--config=${options.config}`] : []),
    'put-wal',
    ...(options.test ? ['--test'] : []),
    server,
  ];
  const ssh = [
    '-q',
    '-T',
    ...(options.port ? ['-p', options.port] : []),
    `${options.user}@${host}`,
    remote.map(shellQuote).join(' '),
  ];

  let size: number;
  let mtime: number;
  if (!options.test) {
    try {
      const info = await stat(walPath);
      if (!info.isFile()) return fail(`${walPath} is not a regular file`);
      size = info.size;
      mtime = info.mtimeMs / 1000;
    } catch (error) {
      return fail(`cannot read ${walPath}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    }
  }
  if (options.test || !compression) return send(host, ssh, options, walPath, size!, mtime!);
  // Compressed before ssh starts: a failed compression sends nothing.
  const scratch = await mkdtemp(join(tmpdir(), 'barman-wal-archive-'));
  try {
    const compressed = join(scratch, basename(walPath));
    try {
      const { compressFile } = await import('../transfer/compression/index.js');
      await compressFile(compression.name, walPath, compressed, { level: compression.level });
    } catch (error) {
      return fail(`cannot ${compression.name}-compress ${walPath}: ${(error as Error).message}`);
    }
    return await send(host, ssh, options, compressed, (await stat(compressed)).size, mtime!);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * The compression flag given and its level, null for none, or why they are refused: two
 * compressions, a level without one, a level the algorithm does not have.
 */
async function clientCompression(
  options: Options,
): Promise<{ name: ClientCompression; level: 'low' | 'medium' | 'high' | number } | null | string> {
  const chosen = CLIENT_COMPRESSIONS.filter((name) => options[name] === true);
  const level = options.compressionLevel?.trim().toLowerCase();
  if (chosen.length > 1)
    return `choose one compression, not ${chosen.map((name) => `--${name}`).join(' and ')}`;
  const name = chosen[0];
  if (!name) {
    return level === undefined
      ? null
      : '--compression-level needs a compression: --gzip, --bzip2, --xz, --snappy, --zstd or --lz4';
  }
  if (level === undefined || level === 'low' || level === 'medium' || level === 'high')
    return { name, level: level ?? 'medium' };
  const { levelRange } = await import('../transfer/compression/index.js');
  const range = levelRange(name);
  const problem = numberProblem('--compression-level', level, range);
  if (problem) {
    return /integer/.test(problem)
      ? `argument --compression-level: invalid value '${options.compressionLevel}' (use low, medium, high or an integer)`
      : `${problem} (the ${name} levels barman-ts writes are ${range.min} to ${range.max})`;
  }
  return { name, level: Number(level) };
}

/** Streams the file as put-wal's tar over ssh; put-wal's exit code, 3 when ssh failed. */
async function send(
  host: string,
  ssh: string[],
  options: Options,
  walPath: string,
  size: number,
  mtime: number,
): Promise<number> {
  let child;
  try {
    child = spawnPiped('ssh', ssh);
  } catch (error) {
    return fail(`cannot run ssh: ${String(error)}`);
  }
  child.stdout.pipe(process.stdout);
  try {
    if (!options.test) await sendWal(child.stdin, walPath, size, mtime, options.md5 === true);
    child.stdin.end();
  } catch (error) {
    child.stdin.destroy();
    const code = await child.exit.catch(() => 255);
    if (code === 255) return fail(`connection problem with ssh to ${options.user}@${host}`, 3);
    // The remote put-wal stopped reading (e.g. unknown server): its exit code tells why.
    if (code !== 0) return code;
    return fail(`sending ${walPath} failed: ${(error as Error).message}`);
  }
  const code = await child.exit.catch(() => 255);
  if (code === 255) return fail(`connection problem with ssh to ${options.user}@${host}`, 3);
  return code;
}

async function sendWal(
  stdin: NodeJS.WritableStream,
  walPath: string,
  size: number,
  mtime: number,
  md5: boolean,
): Promise<void> {
  const name = basename(walPath);
  const hash = createHash(md5 ? 'md5' : 'sha256');
  const write = (data: Buffer) =>
    new Promise<void>((resolve, reject) => stdin.write(data, (error) => (error ? reject(error) : resolve())));
  await write(tarMemberHeader(name, '0', size, { mode: 0o600, mtimeSeconds: mtime }));
  let sent = 0;
  for await (const chunk of createReadStream(walPath, { highWaterMark: 1 << 20 })) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    sent += buffer.length;
    await write(buffer);
  }
  if (sent !== size) throw new Error(`${walPath} changed size while being sent`);
  await write(tarPadding(size));
  const sums = Buffer.from(`${hash.digest('hex')} *${name}\n`);
  await write(
    tarMemberHeader(md5 ? 'MD5SUMS' : 'SHA256SUMS', '0', sums.length, { mode: 0o600, mtimeSeconds: mtime }),
  );
  await write(sums);
  await write(tarPadding(sums.length));
  await write(TAR_END);
}

function fail(message: string, code = 2): number {
  process.stderr.write(`ERROR: ${message}\n`);
  return code;
}
