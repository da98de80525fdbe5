/**
 * put-wal: receives WAL files into incoming/ for archive_command. A file is acknowledged (exit
 * 0) only when it is durable under its final name: written to a dot-temp file, checksummed,
 * fsynced, renamed, directory fsynced. archive-wal skips dot-temp files, so it never sees a
 * partial file. With `encryption = gpg` each file is sealed (compressed, then encrypted:
 * sealed-wal.ts) in memory before its first byte is written, and lands in incoming/ as
 * `<name><ext>.gpg`: no plaintext WAL is ever a file put-wal wrote.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { copyFile, link, lstat, mkdir, open, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { fsyncDirectory, makeFilePrivateAndDurable, writeAll } from '../storage/durable-files.js';
import { BarmanError, isBarmanError } from '../errors/index.js';
import type { CustomCompression } from '../transfer/compression/index.js';
import { hashDir, parseWalName } from './names.js';
import type { PassphraseSource } from '../transfer/passphrase.js';
import { sealedName, sealWalContent, type SealSettings } from './sealed-wal.js';
import { identifyCompression, MAGIC_HEADER_LENGTH } from '../transfer/compression/magic.js';
import { canonicalCompression } from '../transfer/compression/types.js';
import { verifyWalHead, WAL_HEADER_LENGTH } from './wal-header.js';
import { readTar, TarFormatError } from '../transfer/tar-reader.js';

export interface PutWalPaths {
  incomingDirectory: string;
  /**
   * The archive's directory, where a retry finds its file already archived; null for an object
   * archive (s3://), which put-wal does not reach (no AWS SDK on the archive_command path):
   * archive-wal compares a retry with the stored copy there.
   */
  walsDirectory: string | null;
  errorsDirectory: string;
}

/** put-wal's sealing (`encryption = gpg`): how to seal, and the passphrase to compare sealed copies. */
export interface PutWalSealing extends SealSettings {
  passphrase: PassphraseSource | null;
  /** The cluster the archive belongs to (identity.json), null when not known yet. */
  systemIdentifier: string | null;
}

export interface PutWalOutcome {
  /** Names now in incoming/ (or already archived with identical content). */
  accepted: string[];
}

interface Received {
  name: string;
  temp: string;
  /** Its name in incoming/: the WAL name, or `<name><ext>.gpg` when sealed. */
  file: string;
  md5: string;
  sha256: string;
}

function tempName(directory: string, name: string): string {
  return join(directory, `.${process.pid}-${randomBytes(3).toString('hex')}-${name}.tmp`);
}

function checkWalName(name: string): void {
  const wal = parseWalName(name);
  if (!wal || wal.name !== name) {
    throw new BarmanError('bad-wal-name', `'${name}' is not a valid WAL file name`);
  }
}

/** Writes a stream to a temp file in `directory`, hashing and fsyncing it. */
async function receiveInto(
  directory: string,
  name: string,
  write: (sink: (chunk: Buffer) => Promise<void>) => Promise<void>,
  sealing: PutWalSealing | null,
  custom: CustomCompression | null,
): Promise<Received> {
  const temp = tempName(directory, name);
  const handle = await open(temp, 'wx', 0o600);
  const md5 = createHash('md5');
  const sha256 = createHash('sha256');
  // Sealing needs the whole file (compressed, then encrypted): it is held in memory, never written plain.
  const held: Buffer[] = [];
  let file = name;
  try {
    await write(async (chunk) => {
      md5.update(chunk);
      sha256.update(chunk);
      if (sealing) held.push(Buffer.from(chunk));
      else await writeAll(handle, chunk);
    });
    if (sealing) {
      const sealed = await sealReceived(name, Buffer.concat(held), sealing, custom);
      await writeAll(handle, sealed.bytes);
      file = sealed.file;
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => {});
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC') {
      throw new BarmanError('put-wal-no-space', `no space left in ${directory} to store ${name}`);
    }
    throw error;
  }
  await handle.close();
  return { name, temp, file, md5: md5.digest('hex'), sha256: sha256.digest('hex') };
}

/** Reads Barman's put-wal tar stream (WAL files + MD5SUMS/SHA256SUMS) from `stream`. */
export async function putWalFromTar(
  stream: Readable,
  paths: PutWalPaths,
  custom: CustomCompression | null,
  sealing: PutWalSealing | null = null,
): Promise<PutWalOutcome> {
  await mkdir(paths.incomingDirectory, { recursive: true });
  const received: Received[] = [];
  const checksums = new Map<string, { algorithm: 'md5' | 'sha256'; digest: string }>();
  try {
    await readTar(stream, async (member, body) => {
      if (member.type !== '0')
        throw new BarmanError(
          'put-wal-bad-member',
          `unexpected tar member '${member.name}' (type ${member.type})`,
        );
      if (member.name.includes('/'))
        throw new BarmanError('put-wal-bad-member', `unexpected path '${member.name}' in the tar stream`);
      if (member.name === 'MD5SUMS' || member.name === 'SHA256SUMS') {
        const chunks: Buffer[] = [];
        await body((chunk) => {
          chunks.push(chunk);
          return Promise.resolve();
        });
        const algorithm = member.name === 'MD5SUMS' ? 'md5' : 'sha256';
        for (const line of Buffer.concat(chunks).toString('utf8').split('\n')) {
          const match = /^([0-9a-f]+) [ *](.+)$/i.exec(line.trim());
          if (match) checksums.set(match[2]!, { algorithm, digest: match[1]!.toLowerCase() });
        }
        return;
      }
      checkWalName(member.name);
      received.push(await receiveInto(paths.incomingDirectory, member.name, body, sealing, custom));
    });
  } catch (error) {
    await discard(received);
    if (error instanceof TarFormatError)
      throw new BarmanError('put-wal-bad-stream', `invalid put-wal stream: ${error.message}`);
    throw error;
  }
  if (received.length === 0) {
    throw new BarmanError('put-wal-empty', 'the put-wal stream contains no WAL file');
  }
  for (const file of received) {
    const expected = checksums.get(file.name);
    const actual = expected?.algorithm === 'md5' ? file.md5 : file.sha256;
    if (!expected || expected.digest !== actual) {
      await discard(received);
      throw new BarmanError(
        'put-wal-checksum',
        expected
          ? `checksum mismatch for ${file.name}: the file was corrupted in transit`
          : `no checksum for ${file.name} in the stream`,
      );
    }
  }
  return publish(received, paths, custom, sealing);
}

/** barman-ts extension: `put-wal SERVER --file %p` copies a local WAL file durably. */
export async function putWalFromFile(
  path: string,
  paths: PutWalPaths,
  custom: CustomCompression | null,
  sealing: PutWalSealing | null = null,
): Promise<PutWalOutcome> {
  const name = basename(path);
  checkWalName(name);
  await mkdir(paths.incomingDirectory, { recursive: true });
  const temp = tempName(paths.incomingDirectory, name);
  let file = name;
  try {
    if (sealing) {
      const sealed = await sealReceived(name, await readFile(path), sealing, custom);
      await writeFile(temp, sealed.bytes, { flag: 'wx', mode: 0o600 });
      file = sealed.file;
    } else {
      // copy_file_range in the kernel: no checksum needed, the bytes never leave this host.
      await copyFile(path, temp, fsConstants.COPYFILE_EXCL);
    }
    await makeFilePrivateAndDurable(temp);
  } catch (error) {
    await unlink(temp).catch(() => {});
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !(await exists(path))) {
      throw new BarmanError('put-wal-no-file', `cannot read WAL file '${path}': no such file`);
    }
    if (code === 'ENOSPC') {
      throw new BarmanError(
        'put-wal-no-space',
        `no space left in ${paths.incomingDirectory} to store ${name}`,
      );
    }
    throw error;
  }
  return publish([{ name, temp, file, md5: '', sha256: '' }], paths, custom, sealing);
}

/**
 * `content` (WAL file `name` as received) sealed, and its name in incoming/. archive-wal cannot
 * read a sealed file's header, so it is checked here as archive-wal checks a plain one (cluster,
 * size, segment): a file that fails is refused, nothing stored, PostgreSQL keeps it. A file that
 * arrived compressed (barman-wal-archive --compression) is encrypted as it is, its name telling
 * its compression (none for `custom`: reading it back tells).
 */
async function sealReceived(
  name: string,
  content: Buffer,
  sealing: PutWalSealing,
  custom: CustomCompression | null,
): Promise<{ bytes: Buffer; file: string }> {
  const arrived = identifyCompression(content.subarray(0, MAGIC_HEADER_LENGTH), custom);
  if (arrived === null) {
    const head = content.subarray(0, WAL_HEADER_LENGTH);
    const verdict = verifyWalHead(name, parseWalName(name)!, head, content.length, sealing.systemIdentifier);
    if (!verdict.ok)
      throw new BarmanError('put-wal-not-wal', `${name} was not stored: it ${verdict.reason}`, {
        hint: 'check archive_command: it must send this cluster’s WAL files under their own names',
      });
    return { bytes: await sealWalContent(content, sealing), file: sealedName(name, sealing.compression) };
  }
  const format = canonicalCompression(arrived);
  const bytes = await sealWalContent(content, { ...sealing, compression: null });
  return { bytes, file: sealedName(name, format === 'custom' ? null : format) };
}

/**
 * Renames received files to their final names. A name already present (waiting in incoming/ or
 * archived) with the same content is a retry of an earlier success: accepted. Different content
 * is kept in errors/ and refused, so PostgreSQL keeps its WAL and retries.
 */
async function publish(
  received: Received[],
  paths: PutWalPaths,
  custom: CustomCompression | null,
  sealing: PutWalSealing | null,
): Promise<PutWalOutcome> {
  const accepted: string[] = [];
  for (const [index, file] of received.entries()) {
    const target = join(paths.incomingDirectory, file.file);
    const archived =
      paths.walsDirectory === null ? null : join(paths.walsDirectory, hashDir(file.name), file.name);
    let delivered: boolean;
    try {
      delivered = await deliverOrMatch(file, target, archived, custom, sealing?.passphrase ?? null);
    } catch (error) {
      await discard(received.slice(index));
      throw error;
    }
    if (delivered) {
      accepted.push(file.name);
      continue;
    }
    await mkdir(paths.errorsDirectory, { recursive: true });
    const stamp = new Date()
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z');
    const kept = join(paths.errorsDirectory, `${file.name}.${stamp}.duplicate`);
    await rename(file.temp, kept);
    await fsyncDirectory(paths.errorsDirectory);
    await discard(received.slice(index + 1));
    throw new BarmanError(
      'put-wal-duplicate',
      `${file.name} is already in the archive of this server with different content; the new copy is kept in ${kept}`,
      {
        hint: 'Two clusters may be archiving into one server: check archive_command and the server configuration.',
      },
    );
  }
  await fsyncDirectory(paths.incomingDirectory);
  return { accepted };
}

/**
 * Links the received file to its name in incoming/, or, when that name is taken (waiting in
 * incoming/ or archived), compares it with the copy there: true when delivered or identical.
 * archive-wal may move the waiting copy into the archive between the look and the comparison:
 * then the copy is looked for again.
 */
async function deliverOrMatch(
  file: Received,
  target: string,
  archived: string | null,
  custom: CustomCompression | null,
  passphrase: PassphraseSource | null,
): Promise<boolean> {
  for (let attempt = 1; ; attempt += 1) {
    if (archived === null || !(await exists(archived))) {
      // link() fails if the name exists: a concurrent put-wal can never be silently replaced.
      try {
        await link(file.temp, target);
        await unlink(file.temp);
        return true;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    const existing = archived === null || (await exists(target)) ? target : archived;
    // Loaded only here: the compression codecs are not needed on the common path.
    const { filesHaveSameContent, localWalFile } = await import('./compare.js');
    try {
      const same = await filesHaveSameContent(
        localWalFile(file.temp),
        localWalFile(existing),
        custom,
        passphrase,
      );
      if (!same) return false;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' && attempt < 10) continue;
      if (isBarmanError(error) && error.code === 'encryption-no-passphrase-command')
        throw new BarmanError(
          'put-wal-cannot-compare',
          `${file.name} is already in ${existing}, sealed; comparing it with the new copy needs the passphrase: nothing was stored, PostgreSQL keeps the WAL file and retries`,
          {
            hint: "set 'encryption_passphrase_command' so that a retried WAL file can be recognised, or archive the waiting copy ('barman archive-wal') if it is the same",
          },
        );
      throw error;
    }
    await unlink(file.temp);
    return true;
  }
}

async function exists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null)) !== null;
}

async function discard(files: Received[]): Promise<void> {
  for (const file of files) await unlink(file.temp).catch(() => {});
}
