import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { parseBackupManifest, renderBackupManifest } from '../../../src/catalog/backup-manifest.js';

test('backup_manifest in PostgreSQL layout, with the checksum of everything before its line', () => {
  const text = renderBackupManifest(
    [
      { path: 'PG_VERSION', size: 3, mtimeMs: Date.UTC(2026, 10, 21, 9, 8, 7, 654), sha256: 'a'.repeat(64) },
      { path: 'pg_tblspc/16385/PG_15_202209061/5/16386', size: 8192, mtimeMs: 0, sha256: 'b'.repeat(64) },
      { path: 'odd "name"\\x', size: 0, mtimeMs: 0, sha256: 'c'.repeat(64) },
    ],
    [{ timeline: 1, startLsn: '0/2000028', endLsn: '0/2000100' }],
  );
  const body =
    '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n' +
    `{ "Path": "PG_VERSION", "Size": 3, "Last-Modified": "2026-11-21 09:08:07 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${'a'.repeat(64)}" },\n` +
    `{ "Path": "pg_tblspc/16385/PG_15_202209061/5/16386", "Size": 8192, "Last-Modified": "1970-01-01 00:00:00 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${'b'.repeat(64)}" },\n` +
    `{ "Path": "odd \\"name\\"\\\\x", "Size": 0, "Last-Modified": "1970-01-01 00:00:00 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${'c'.repeat(64)}" }\n` +
    '],\n"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "0/2000028", "End-LSN": "0/2000100" }\n],\n';
  const checksum = createHash('sha256').update(body).digest('hex');
  assert.equal(text, `${body}"Manifest-Checksum": "${checksum}"}\n`);
  // And it is JSON.
  const parsed = JSON.parse(text) as { Files: Array<{ Path: string }> };
  assert.deepEqual(
    parsed.Files.map((file) => file.Path),
    ['PG_VERSION', 'pg_tblspc/16385/PG_15_202209061/5/16386', 'odd "name"\\x'],
  );
});

test('an empty file list still has the Files array', () => {
  const text = renderBackupManifest([], [{ timeline: 3, startLsn: '1/0', endLsn: '1/10' }]);
  assert.ok(text.startsWith('{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n],\n"WAL-Ranges": [\n'));
  assert.deepEqual((JSON.parse(text) as { Files: unknown[] }).Files, []);
});

test('parseBackupManifest reads back what renderBackupManifest writes, and pg_basebackup CRC32C entries', () => {
  const text = renderBackupManifest(
    [{ path: 'base/1/1259', size: 8192, mtimeMs: 0, sha256: 'AB'.repeat(32) }],
    [{ timeline: 1, startLsn: '0/1', endLsn: '0/2' }],
  );
  assert.deepEqual(
    [...parseBackupManifest(text, 'm')],
    [
      [
        'base/1/1259',
        { size: 8192, sha256: 'ab'.repeat(32), checksum: { algorithm: 'SHA256', value: 'AB'.repeat(32) } },
      ],
    ],
  );
  const fromPgBasebackup =
    '{ "PostgreSQL-Backup-Manifest-Version": 1,\n"Files": [\n' +
    '{ "Path": "PG_VERSION", "Size": 3, "Last-Modified": "2026-11-21 09:08:07 GMT", "Checksum-Algorithm": "CRC32C", "Checksum": "0a1b2c3d" },\n' +
    '{ "Encoded-Path": "6e616d65ff", "Size": 1, "Last-Modified": "2026-11-21 09:08:07 GMT" }\n' +
    '],\n"WAL-Ranges": [\n],\n"Manifest-Checksum": "00"}\n';
  const entries = parseBackupManifest(fromPgBasebackup, 'm');
  assert.deepEqual(entries.get('PG_VERSION'), {
    size: 3,
    sha256: null,
    checksum: { algorithm: 'CRC32C', value: '0a1b2c3d' },
  });
  assert.equal(entries.get('name\ufffd')?.checksum ?? null, null);
  assert.equal(entries.size, 2);
  assert.throws(
    () => parseBackupManifest('{"Files": 3}', 'x/backup_manifest'),
    /x\/backup_manifest is not a backup manifest/,
  );
  assert.throws(() => parseBackupManifest('garbage', 'y'), /y is not a backup manifest/);
});

test('a file copied whole keeps the checksum of its own manifest, whatever the algorithm', () => {
  const text = renderBackupManifest(
    [
      {
        path: 'PG_VERSION',
        size: 3,
        mtimeMs: 0,
        sha256: '',
        checksum: { algorithm: 'CRC32C', value: '0a1b2c3d' },
      },
      { path: 'base/1/1259', size: 8192, mtimeMs: 0, sha256: 'cd'.repeat(32) },
    ],
    [{ timeline: 1, startLsn: '0/1', endLsn: '0/2' }],
    { systemIdentifier: '7000000000000000001' },
  );
  const entries = parseBackupManifest(text, 'm');
  assert.deepEqual(entries.get('PG_VERSION')?.checksum, { algorithm: 'CRC32C', value: '0a1b2c3d' });
  assert.equal(entries.get('base/1/1259')?.sha256, 'cd'.repeat(32));
});
