/**
 * Synthetic plain backups for the combine's unit tests: backup_label, a version 2
 * backup_manifest, global/pg_control's system identifier, and files given as bytes; INCREMENTAL
 * files built from a truncation length and blocks, in PostgreSQL 17's layout.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { manifestHasher } from '../../../../src/catalog/manifest-checksum.js';
import type { ChainBackup } from '../../../../src/recovery/combine/chain.js';
import { BLOCK_SIZE, INCREMENTAL_MAGIC } from '../../../../src/recovery/combine/incremental-file.js';
import { PosixStorage } from '../../../../src/storage/index.js';

export const SYSTEM = '7351234567890123456';

/** A block whose bytes all are `fill`. */
export function block(fill: number): Buffer {
  return Buffer.alloc(BLOCK_SIZE, fill);
}

export function incrementalFile(truncationBlocks: number, blocks: ReadonlyArray<[number, Buffer]>): Buffer {
  const header = Buffer.alloc(12 + 4 * blocks.length);
  header.writeUInt32LE(INCREMENTAL_MAGIC, 0);
  header.writeUInt32LE(blocks.length, 4);
  header.writeUInt32LE(truncationBlocks, 8);
  blocks.forEach(([number], i) => header.writeUInt32LE(number, 12 + 4 * i));
  const padded = blocks.length === 0 ? header.length : Math.ceil(header.length / BLOCK_SIZE) * BLOCK_SIZE;
  return Buffer.concat([header, Buffer.alloc(padded - header.length), ...blocks.map(([, data]) => data)]);
}

export interface FakeBackup {
  name: string;
  /** `X/X` */
  start: string;
  /** The parent's start, for an incremental. */
  from?: string;
  system?: string;
  files: Record<string, Buffer | string>;
  /** Whether its manifest lists each file's CRC32C (default true). */
  checksums?: boolean;
}

/** Writes `backup` under `root/<name>/data` and returns it as a chain member. */
export function writeBackup(root: string, backup: FakeBackup): ChainBackup {
  const data = join(root, backup.name, 'data');
  const put = (path: string, content: Buffer | string) => {
    mkdirSync(dirname(join(data, path)), { recursive: true });
    writeFileSync(join(data, path), content);
  };
  const label =
    `START WAL LOCATION: ${backup.start} (file 000000010000000000000002)\nCHECKPOINT LOCATION: ${backup.start}\n` +
    'BACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-12-06 04:00:00 UTC\n' +
    `LABEL: ${backup.name}\nSTART TIMELINE: 1\n` +
    (backup.from ? `INCREMENTAL FROM LSN: ${backup.from}\nINCREMENTAL FROM TLI: 1\n` : '');
  put('backup_label', label);
  const control = Buffer.alloc(512);
  control.writeBigUInt64LE(BigInt(backup.system ?? SYSTEM), 0);
  put('global/pg_control', control);
  for (const [path, content] of Object.entries(backup.files)) put(path, content);
  // Listed as the server lists them: every file but WAL, with its size and CRC32C (the checksum
  // a patched relation's CRC is derived from), or none when `checksums` is false.
  const listed: Array<[string, Buffer | string]> = [
    ['backup_label', label],
    ['global/pg_control', control],
    ...Object.entries(backup.files).filter(([path]) => !path.startsWith('pg_wal/')),
  ];
  const files = listed
    .map(([path, content]) => {
      const hasher = manifestHasher('CRC32C')!;
      hasher.update(Buffer.from(content));
      const checksum =
        backup.checksums === false
          ? ''
          : `, "Checksum-Algorithm": "CRC32C", "Checksum": "${hasher.digest()}"`;
      return `{ "Path": "${path}", "Size": ${Buffer.byteLength(content)}, "Last-Modified": "2026-12-06 04:00:00 GMT"${checksum} }`;
    })
    .join(',\n');
  put(
    'backup_manifest',
    `{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": ${backup.system ?? SYSTEM},\n"Files": [\n${files}\n],\n` +
      `"WAL-Ranges": [\n{ "Timeline": 1, "Start-LSN": "${backup.start}", "End-LSN": "0/9000000" }\n],\n` +
      '"Manifest-Checksum": "0"}\n',
  );
  return {
    name: backup.name,
    storage: new PosixStorage(root),
    dataDirectory: `${backup.name}/data`,
    tablespaces: new Map(),
  };
}
