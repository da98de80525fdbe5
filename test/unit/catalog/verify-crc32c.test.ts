/**
 * verify-backup of a plain copy with pg_basebackup's CRC32C manifest: through PosixStorage's
 * checksumFile (the crc32c addon reading on libuv's thread pool) and through this thread's reads
 * (a storage without checksumFile, what a machine without the addon gets), which must find the
 * same problems: none, a corrupted byte, a shortened file, a stranger, a missing file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { backupContent } from '../../../src/catalog/backup-content.js';
import { crc32cHex } from '../../../src/catalog/manifest-checksum.js';
import { verifyBackupContent } from '../../../src/catalog/verify-backup.js';
import { backupLayoutFor } from '../../../src/recovery/layout.js';
import { PosixStorage, type Storage } from '../../../src/storage/index.js';
import { portableCrc32c } from '../../../src/transfer/compression/checksums.js';
import { crc32cAddon } from '../../../src/util/native-crc32c.js';

const nativeCrc32cFile = () => crc32cAddon()?.crc32cFile ?? null;

const root = mkdtempSync(join(tmpdir(), 'verify-crc32c-'));
after(() => rmSync(root, { recursive: true, force: true }));
const storage = new PosixStorage(root);
/** The same directory without checksumFile: every file read by this thread, in JavaScript. */
const readingStorage: Storage = Object.assign(Object.create(storage) as PosixStorage, {
  checksumFile: undefined,
});
const layout = backupLayoutFor({ kind: 'posix', path: root });
const SYSTEM = '7301234567890123456';
const ID = '20261207T010000';

const control = Buffer.alloc(8192, 9);
control.writeBigUInt64LE(BigInt(SYSTEM), 0);
const FILES: Record<string, Buffer> = {
  PG_VERSION: Buffer.from('17\n'),
  'global/pg_control': control,
  'base/1/1259': Buffer.from(Array.from({ length: 3 << 20 }, (_, index) => (index * 31 + 7) % 253)),
  'base/1/2600': Buffer.alloc(0),
  'base/1/2601': Buffer.alloc(12_289, 5),
};

function write(path: string, data: Buffer | string): void {
  mkdirSync(dirname(join(root, ID, 'data', path)), { recursive: true });
  writeFileSync(join(root, ID, 'data', path), data);
}

/** A version 2 manifest as pg_basebackup writes it, CRC32C per file, with its own SHA-256. */
function manifest(files: Record<string, Buffer>): string {
  const entries = Object.entries(files).map(
    ([path, data]) =>
      `{ "Path": "${path}", "Size": ${data.length}, "Last-Modified": "2026-12-07 01:00:00 GMT", ` +
      `"Checksum-Algorithm": "CRC32C", "Checksum": "${crc32cHex(portableCrc32c(data))}" }`,
  );
  const body =
    `{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": ${SYSTEM},\n"Files": [\n` +
    `${entries.join(',\n')}\n],\n"WAL-Ranges": [\n` +
    `{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000138" }\n],\n`;
  return `${body}"Manifest-Checksum": "${createHash('sha256').update(body).digest('hex')}"}\n`;
}

/** The problems found; the same through checksumFile and through this thread's reads. */
async function verify(): Promise<string[]> {
  const content = await backupContent(storage, layout, ID, []);
  const found: string[][] = [];
  for (const reader of [storage, readingStorage]) {
    const outcome = await verifyBackupContent(reader, content, { concurrency: 3 });
    found.push([...outcome.problems].sort());
  }
  assert.deepEqual(found[0], found[1], 'checksumFile and JavaScript reads differ');
  return found[0]!;
}

test('a CRC32C manifest: the addon on the thread pool and JavaScript reads find the same problems', async () => {
  if (process.arch === 'x64') assert.ok(nativeCrc32cFile(), 'native/crc32c has no crc32cFile');
  for (const [path, data] of Object.entries(FILES)) write(path, data);
  write('backup_manifest', manifest(FILES));
  assert.deepEqual(await verify(), []);

  // One byte changed in the middle of the 3 MiB file (past the first reads).
  const relation = join(root, ID, 'data/base/1/1259');
  const bad = Buffer.from(FILES['base/1/1259']!);
  bad.writeUInt8(bad.readUInt8((3 << 20) - 100_000) ^ 0x40, (3 << 20) - 100_000);
  writeFileSync(relation, bad);
  assert.deepEqual(await verify(), [
    `checksum mismatch for file "base/1/1259" (${root}/${ID}/data/base/1/1259)`,
  ]);
  writeFileSync(relation, FILES['base/1/1259']!);

  truncateSync(join(root, ID, 'data/base/1/2601'), 4096);
  write('base/1/9999', 'stranger');
  unlinkSync(join(root, ID, 'data/PG_VERSION'));
  assert.deepEqual(await verify(), [
    `"PG_VERSION" is present in the manifest but not in the backup`,
    `"base/1/2601" has size 4096 in the backup but size 12289 in the manifest (${root}/${ID}/data/base/1/2601)`,
    `"base/1/9999" is present in the backup but not in the manifest (${root}/${ID}/data/base/1/9999)`,
  ]);
  write('PG_VERSION', FILES.PG_VERSION!);
  write('base/1/2601', FILES['base/1/2601']!);
  unlinkSync(join(root, ID, 'data/base/1/9999'));

  // pg_control's system identifier is read from the first bytes the addon hands back.
  const other = Buffer.from(control);
  other.writeBigUInt64LE(42n, 0);
  write('global/pg_control', other);
  const files = { ...FILES, 'global/pg_control': other };
  write('backup_manifest', manifest(files));
  assert.deepEqual(await verify(), [
    `manifest system identifier is ${SYSTEM}, but global/pg_control says 42`,
  ]);
});

test('PosixStorage.checksumFile: the whole file, its head, and errors naming the path', async () => {
  // Without the addon (not x86-64) it answers null, and verify-backup reads in JavaScript (above).
  if (!nativeCrc32cFile()) {
    assert.notEqual(process.arch, 'x64', 'native/crc32c has no crc32cFile');
    assert.equal(
      await storage.checksumFile(`${ID}/data/PG_VERSION`, { algorithm: 'CRC32C', headBytes: 0 }),
      null,
    );
    return;
  }
  write('checksum/a', FILES['base/1/1259']!);
  const whole = await storage.checksumFile(`${ID}/data/checksum/a`, { algorithm: 'CRC32C', headBytes: 8 });
  assert.deepEqual(whole, {
    crc: portableCrc32c(FILES['base/1/1259']!),
    bytes: 3 << 20,
    head: FILES['base/1/1259']!.subarray(0, 8),
  });
  await assert.rejects(
    storage.checksumFile(`${ID}/data/checksum/missing`, { algorithm: 'CRC32C', headBytes: 0 }),
    {
      code: 'ENOENT',
      syscall: 'open',
      path: join(root, ID, 'data/checksum/missing'),
    },
  );
  await assert.rejects(storage.checksumFile('../outside', { algorithm: 'CRC32C', headBytes: 0 }), /escapes/);
});
