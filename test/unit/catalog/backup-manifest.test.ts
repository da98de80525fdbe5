import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { renderBackupManifest } from '../../../src/catalog/backup-manifest.js';

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
