/**
 * barman-wal-archive: PostgreSQL's archive_command on the database host. Streams the WAL file
 * and its SHA-256 as a tar archive over ssh to `barman put-wal SERVER` on the barman host; the
 * exit code is 0 only when put-wal has stored the file durably. Compatible with Barman's client:
 * same options, same exit codes (0 ok, 2 local error, 3 ssh failure, else put-wal's code).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
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
}

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
  let child;
  try {
    child = spawnPiped('ssh', ssh);
  } catch (error) {
    return fail(`cannot run ssh: ${String(error)}`);
  }
  child.stdout.pipe(process.stdout);
  try {
    if (!options.test) await sendWal(child.stdin, walPath, size!, mtime!, options.md5 === true);
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
