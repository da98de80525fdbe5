/**
 * The native verifier and manifest generator on a real directory through PosixStorage: a plain
 * backup (PGDATA and a tablespace) and the same files as tar archives, each generated then
 * verified, then changed, shortened, removed or joined by a stranger; the manifest's own
 * checksum; CRC32C in PostgreSQL's byte order.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { emptyBackupInfo } from '../../../src/catalog/backup-info.js';
import { backupContent } from '../../../src/catalog/backup-content.js';
import { generateBackupManifest } from '../../../src/catalog/generate-manifest.js';
import { manifestChecksumMatches, manifestHasher } from '../../../src/catalog/manifest-checksum.js';
import type { VerifyProgress } from '../../../src/catalog/verify-backup.js';
import { verifyBackupContent } from '../../../src/catalog/verify-backup.js';
import { archiveClash } from '../../../src/commands/check-wal-archive/run.js';
import { backupLayoutFor } from '../../../src/recovery/layout.js';
import { PosixStorage } from '../../../src/storage/index.js';
import { TAR_END, tarMemberHeader, tarPadding } from '../../../src/transfer/tar-writer.js';

const root = mkdtempSync(join(tmpdir(), 'verify-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));
const storage = new PosixStorage(root);
const layout = backupLayoutFor({ kind: 'posix', path: root });
const SYSTEM = '7301234567890123456';

function controlFile(system: string): Buffer {
  const bytes = Buffer.alloc(8192, 7);
  bytes.writeBigUInt64LE(BigInt(system), 0);
  return bytes;
}

const FILES: Record<string, Buffer> = {
  PG_VERSION: Buffer.from('17\n'),
  'global/pg_control': controlFile(SYSTEM),
  'base/1/1259': Buffer.alloc(3 * 8192 + 17, 1),
  'pg_wal/000000010000000000000002': Buffer.alloc(100, 2),
};
const TABLESPACE: Record<string, Buffer> = { 'PG_17_1/5/16390': Buffer.alloc(70_000, 3) };
const info = emptyBackupInfo('main', {
  version: 170000,
  systemid: SYSTEM,
  timeline: 1,
  begin_xlog: '0/2000028',
  end_xlog: '0/2000138',
  tablespaces: [{ name: 'tbs', oid: 16390, location: '/srv/tbs' }],
});

function write(path: string, data: Buffer | string): void {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), data);
}

/**
 * The problems found, checked the same on both paths: a plain copy's files read and checksummed
 * on worker threads (threads: 2) and on this thread (threads: 1). Progress ends at the totals.
 */
async function verify(id: string) {
  const content = await backupContent(storage, layout, id, [16390]);
  const outcomes = [];
  for (const threads of [2, 1]) {
    let last: VerifyProgress | null = null;
    const outcome = await verifyBackupContent(storage, content, {
      concurrency: 3,
      threads,
      onProgress: (progress) => (last = progress),
    });
    assert.ok(last);
    const { bytes, files, totalBytes, totalFiles } = last as VerifyProgress;
    assert.deepEqual([bytes, files], [outcome.bytes, outcome.files]);
    if (outcome.problems.length === 0) assert.deepEqual([bytes, files], [totalBytes, totalFiles]);
    outcomes.push(outcome.problems);
  }
  assert.deepEqual(
    [...outcomes[0]!].sort(),
    [...outcomes[1]!].sort(),
    'worker threads and this thread differ',
  );
  return outcomes[0]!;
}

test('a plain backup: generated, verified, and every kind of damage named', async () => {
  const id = '20261206T100000';
  for (const [path, data] of Object.entries(FILES)) write(`${id}/data/${path}`, data);
  for (const [path, data] of Object.entries(TABLESPACE)) write(`${id}/16390/${path}`, data);
  const content = await backupContent(storage, layout, id, [16390]);
  assert.equal(content.kind, 'plain');
  const generated = await generateBackupManifest(storage, content, info, { concurrency: 2 });
  // pg_wal/ is not listed, as in pg_basebackup's manifests.
  assert.equal(generated.files, 4);
  const manifest = readFileSync(join(root, id, 'data/backup_manifest'), 'utf8');
  assert.doesNotMatch(manifest, /pg_wal/);
  assert.match(
    manifest,
    /^\{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": 7301234567890123456,\n/,
  );
  assert.match(manifest, /"Path": "pg_tblspc\/16390\/PG_17_1\/5\/16390", "Size": 70000/);
  assert.match(manifest, /\{ "Timeline": 1, "Start-LSN": "0\/2000028", "End-LSN": "0\/2000138" \}/);
  assert.equal(manifestChecksumMatches(manifest), true);
  await assert.rejects(generateBackupManifest(storage, content, info, { concurrency: 2 }), /already exists/);
  assert.deepEqual(await verify(id), []);

  // WAL in pg_wal is not the manifest's business, as for pg_verifybackup.
  write(`${id}/data/pg_wal/000000010000000000000003`, 'x');
  assert.deepEqual(await verify(id), []);

  const relation = join(root, id, 'data/base/1/1259');
  const good = readFileSync(relation);
  const flipped = Buffer.from(good);
  flipped[9000] = 9;
  writeFileSync(relation, flipped);
  assert.deepEqual(await verify(id), [`checksum mismatch for file "base/1/1259" (${relation})`]);
  writeFileSync(relation, good.subarray(1));
  assert.match(
    (await verify(id))[0]!,
    /^"base\/1\/1259" has size 24592 in the backup but size 24593 in the manifest/,
  );
  unlinkSync(relation);
  assert.deepEqual(await verify(id), ['"base/1/1259" is present in the manifest but not in the backup']);
  writeFileSync(relation, good);
  write(`${id}/16390/PG_17_1/5/99999`, 'new');
  assert.deepEqual(await verify(id), [
    `"pg_tblspc/16390/PG_17_1/5/99999" is present in the backup but not in the manifest (${root}/${id}/16390/PG_17_1/5/99999)`,
  ]);
  unlinkSync(join(root, id, '16390/PG_17_1/5/99999'));

  const control = join(root, id, 'data/global/pg_control');
  writeFileSync(control, controlFile('42'));
  assert.deepEqual((await verify(id)).sort(), [
    `checksum mismatch for file "global/pg_control" (${control})`,
    `manifest system identifier is ${SYSTEM}, but global/pg_control says 42`,
  ]);
  writeFileSync(control, controlFile(SYSTEM));

  const manifestPath = join(root, id, 'data/backup_manifest');
  writeFileSync(manifestPath, manifest.replace('"Size": 3,', '"Size": 4,'));
  assert.deepEqual(await verify(id), [
    'backup_manifest checksum mismatch: the manifest was changed after it was written',
    `"PG_VERSION" has size 3 in the backup but size 4 in the manifest (${root}/${id}/data/PG_VERSION)`,
  ]);
  writeFileSync(manifestPath, '{ "not": "a manifest" }');
  await assert.rejects(verify(id), /is not a backup manifest: no "Files" list/);
  unlinkSync(manifestPath);
  await assert.rejects(verify(id), /the backup has no backup_manifest/);
});

test('generate-manifest refuses a backup whose files are gone (a manifest of nothing vouches for nothing)', async () => {
  const id = '20261206T120000';
  mkdirSync(join(root, id, 'data'), { recursive: true });
  const content = await backupContent(storage, layout, id, []);
  await assert.rejects(
    generateBackupManifest(storage, content, info, { concurrency: 2 }),
    /the backup has no files to list/,
  );
  assert.equal((await storage.stat(`${id}/data/backup_manifest`)) === null, true);
});

function tarOf(files: Record<string, Buffer>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of Object.entries(files)) {
    parts.push(tarMemberHeader(name, '0', data.length, { mode: 0o600, mtimeSeconds: 1_700_000_000 }), data);
    parts.push(tarPadding(data.length));
  }
  return Buffer.concat([...parts, TAR_END]);
}

test('tar archives (pg_basebackup base.tar and <oid>.tar): generated and verified member by member', async () => {
  const id = '20261206T110000';
  write(`${id}/data/base.tar`, tarOf(FILES));
  write(`${id}/data/16390.tar`, tarOf(TABLESPACE));
  const content = await backupContent(storage, layout, id, [16390]);
  assert.equal(content.kind, 'tar');
  await generateBackupManifest(storage, content, info, { concurrency: 2 });
  assert.deepEqual(await verify(id), []);
  const changed = { ...TABLESPACE, 'PG_17_1/5/16390': Buffer.alloc(70_000, 4) };
  write(`${id}/data/16390.tar`, tarOf(changed));
  assert.deepEqual(await verify(id), [
    `checksum mismatch for file "pg_tblspc/16390/PG_17_1/5/16390" (pg_tblspc/16390/PG_17_1/5/16390 in ${root}/${id}/data/16390.tar)`,
  ]);
});

test('checksums in the manifest formats PostgreSQL writes', () => {
  const crc = manifestHasher('CRC32C')!;
  crc.update(Buffer.from('1234'));
  crc.update(Buffer.from('56789'));
  // CRC-32C("123456789") = 0xE3069283, written in memory order (little-endian).
  assert.equal(crc.digest(), '839206e3');
  // The word-at-a-time path against a bit-by-bit reference: any alignment, length, continuation.
  const reference = (bytes: Uint8Array, start = 0) => {
    let c = ~start;
    for (const byte of bytes) {
      c ^= byte;
      for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    }
    return ~c >>> 0;
  };
  const noise = Buffer.from(Array.from({ length: 5000 }, (_, index) => (index * 7919 + 13) % 251));
  for (const [from, to] of [
    [0, 5000],
    [1, 4999],
    [3, 70],
    [2, 66],
    [5, 5],
  ] as const) {
    const part = noise.subarray(from, to);
    const hasher = manifestHasher('CRC32C')!;
    hasher.update(part.subarray(0, 37));
    hasher.update(part.subarray(37));
    const expected = Buffer.alloc(4);
    expected.writeUInt32LE(reference(part));
    assert.equal(hasher.digest(), expected.toString('hex'), `bytes ${from}..${to}`);
  }
  const sha = manifestHasher('SHA224')!;
  sha.update(Buffer.from('abc'));
  assert.equal(sha.digest(), '23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7');
  assert.equal(manifestHasher('NONE'), null);
  assert.equal(manifestChecksumMatches('{ "Files": [] }'), null);
});

test('check-wal-archive: what makes an archive unusable for a new server', () => {
  assert.equal(archiveClash([], undefined), null);
  assert.equal(archiveClash(['000000010000000000000001'], undefined), 'Expected empty archive');
  const names = ['000000010000000000000001', '00000002.history', '000000020000000000000002'];
  assert.equal(archiveClash(names, 3), null);
  assert.equal(archiveClash(names, 2), 'Found 2 files in WAL archive equal to or newer than timeline 2');
  assert.equal(
    archiveClash(['000000020000000000000002'], 1),
    'Found 1 file in WAL archive equal to or newer than timeline 1',
  );
  assert.equal(archiveClash(['stranger'], 1), 'Unexpected file stranger found in WAL archive');
});
