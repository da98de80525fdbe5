import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { manifestHasher } from '../../../../src/catalog/manifest-checksum.js';
import { combineChain, prepareCombine, writeCombined } from '../../../../src/recovery/combine/combine.js';
import { block, incrementalFile, writeBackup, type FakeBackup } from './fixtures.js';

const root = mkdtempSync(join(tmpdir(), 'combine-unit-'));
after(() => rmSync(root, { recursive: true, force: true }));
let count = 0;

/** Writes the chain in a directory of its own and combines it into `<dir>/out`. */
function combine(backups: FakeBackup[]) {
  const dir = join(root, String(count++));
  const chain = backups.map((backup) => writeBackup(dir, backup));
  const destination = join(dir, 'out');
  return {
    destination,
    run: () => combineChain({ backups: chain, destination, tablespaceDestinations: new Map() }),
  };
}

const FULL: FakeBackup = {
  name: 'full',
  start: '0/2000028',
  files: {
    'base/5/16384': Buffer.concat([block(0xa0), block(0xa1), block(0xa2), block(0xa3)]),
    'base/5/16390': Buffer.concat([block(0xd0), block(0xd1)]),
    'base/5/16395': Buffer.concat([block(0xe0), block(0xe1)]),
    PG_VERSION: '17\n',
    'postgresql.conf': 'old\n',
  },
};
const INCR1: FakeBackup = {
  name: 'incr1',
  start: '0/4000028',
  from: '0/2000028',
  files: {
    'base/5/INCREMENTAL.16384': incrementalFile(4, [[1, block(0xb1)]]),
    'base/5/INCREMENTAL.16395': incrementalFile(2, []),
    'base/5/16400': block(0xc0),
    PG_VERSION: '17\n',
    'postgresql.conf': 'new\n',
  },
};
const INCR2: FakeBackup = {
  name: 'incr2',
  start: '0/6000028',
  from: '0/4000028',
  files: {
    // truncated to 3 blocks, then extended with block 5 (block 4 never written: zeros)
    'base/5/INCREMENTAL.16384': incrementalFile(3, [
      [5, block(0xc5)],
      [0, block(0xc0)],
    ]),
    'base/5/INCREMENTAL.16395': incrementalFile(2, []),
    'base/5/INCREMENTAL.16400': incrementalFile(1, []),
    'pg_wal/000000010000000000000006': Buffer.alloc(1024, 7),
    PG_VERSION: '17\n',
    'postgresql.conf': 'new\n',
  },
};

describe('combineChain on synthetic backups', () => {
  test('rebuilds every relation from the chain, copies the rest from the newest backup', async () => {
    const { destination, run } = combine([FULL, INCR1, INCR2]);
    const result = await run();
    assert.equal(result.reconstructed, 3);
    const file = (path: string) => readFileSync(join(destination, path));
    assert.deepEqual(
      file('base/5/16384'),
      Buffer.concat([block(0xc0), block(0xb1), block(0xa2), block(0), block(0), block(0xc5)]),
    );
    assert.deepEqual(file('base/5/16395'), FULL.files['base/5/16395']); // unchanged: copied whole
    assert.deepEqual(file('base/5/16400'), block(0xc0)); // created in incr1
    assert.equal(existsSync(join(destination, 'base/5/16390')), false); // dropped before incr1
    assert.equal(file('postgresql.conf').toString(), 'new\n');
    assert.doesNotMatch(file('backup_label').toString(), /INCREMENTAL FROM/);
    assert.match(file('backup_label').toString(), /START WAL LOCATION: 0\/6000028/);

    const manifestText = file('backup_manifest').toString();
    assert.match(
      manifestText,
      /^\{ "PostgreSQL-Backup-Manifest-Version": 2,\n"System-Identifier": 7351234567890123456,/,
    );
    const manifest = JSON.parse(manifestText) as {
      Files: Array<{ Path: string; Size: number; 'Checksum-Algorithm': string; Checksum: string }>;
      'WAL-Ranges': Array<{ 'Start-LSN': string }>;
    };
    const paths = manifest.Files.map((entry) => entry.Path);
    assert.ok(!paths.some((path) => path.startsWith('pg_wal/')), 'WAL is not listed in a manifest');
    for (const entry of manifest.Files) {
      const bytes = file(entry.Path);
      assert.equal(entry.Size, bytes.length, entry.Path);
      // What the combine writes carries CRC32C, as pg_combinebackup's result does.
      assert.equal(entry['Checksum-Algorithm'], 'CRC32C', entry.Path);
      const hasher = manifestHasher('CRC32C')!;
      hasher.update(bytes);
      assert.equal(entry.Checksum, hasher.digest(), entry.Path);
    }
    assert.ok(
      paths.includes('base/5/16384') && paths.includes('backup_label') && paths.includes('global/pg_control'),
    );
    assert.equal(manifest['WAL-Ranges'][0]!['Start-LSN'], '0/6000028');
    const body = manifestText.slice(0, manifestText.indexOf('"Manifest-Checksum"'));
    assert.match(
      manifestText,
      new RegExp(`"Manifest-Checksum": "${createHash('sha256').update(body).digest('hex')}"`),
    );
  });

  test('a full backup whose manifest lists no checksums gives the same files and CRC32Cs (read back)', async () => {
    const derived = combine([FULL, INCR1, INCR2]);
    await derived.run();
    const readBack = combine([{ ...FULL, checksums: false }, INCR1, INCR2]);
    await readBack.run();
    const listed = (top: string) =>
      (
        JSON.parse(readFileSync(join(top, 'backup_manifest'), 'utf8')) as {
          Files: Array<{ Path: string; Size: number; Checksum: string }>;
        }
      ).Files.map((entry) => `${entry.Path} ${entry.Size} ${entry.Checksum}`);
    assert.deepEqual(listed(derived.destination), listed(readBack.destination));
    assert.deepEqual(
      readFileSync(join(derived.destination, 'base/5/16384')),
      readFileSync(join(readBack.destination, 'base/5/16384')),
    );
  });

  test('with the full backup in place (a tar chain extracted), gives what a combine into a new directory gives', async () => {
    const { destination, run } = combine([FULL, INCR1, INCR2]);
    await run();
    // The full backup's own directory is the destination: its files are kept, patched, replaced or removed.
    const dir = join(root, String(count++));
    const chain = [FULL, INCR1, INCR2].map((backup) => writeBackup(dir, backup));
    const inPlace = join(dir, 'full', 'data');
    // Listed from the disk, as recovery lists an extracted chain (apply-chain.ts).
    const result = await writeCombined(await prepareCombine(chain, 'storage'), {
      destination: inPlace,
      tablespaceDestinations: new Map(),
      baseInPlace: true,
    });
    assert.equal(result.reconstructed, 3);
    const tree = (top: string): string[] =>
      readdirSync(top, { recursive: true, withFileTypes: true })
        .filter((entry) => entry.isFile())
        .map((entry) => join(entry.parentPath, entry.name).slice(top.length + 1))
        .sort();
    assert.deepEqual(tree(inPlace), tree(destination));
    assert.equal(existsSync(join(inPlace, 'base/5/16390')), false, 'the dropped relation is removed');
    for (const path of tree(destination)) {
      if (path === 'backup_manifest') continue;
      assert.deepEqual(readFileSync(join(inPlace, path)), readFileSync(join(destination, path)), path);
    }
    const listed = (top: string) =>
      (
        JSON.parse(readFileSync(join(top, 'backup_manifest'), 'utf8')) as {
          Files: Array<{ Path: string; Size: number; 'Checksum-Algorithm': string; Checksum: string }>;
        }
      ).Files.map((entry) => `${entry.Path} ${entry.Size} ${entry.Checksum}`);
    assert.deepEqual(listed(inPlace), listed(destination));
  });

  const refused: Array<[string, FakeBackup[], RegExp]> = [
    [
      'a chain with a backup left out',
      [FULL, INCR2],
      /backup incr2 is based on the backup that started at 0\/4000028 on timeline 1, but its parent full started at 0\/2000028/,
    ],
    [
      'a parent of another system',
      [FULL, { ...INCR1, system: '42' }, INCR2],
      /backup incr1 belongs to system 42, its parent full to 7351234567890123456/,
    ],
    [
      'an incremental first',
      [INCR1, INCR2],
      /backup incr1 is incremental, but a chain starts with a full backup/,
    ],
    [
      'a full backup in the middle',
      [FULL, { ...FULL, name: 'again' }],
      /backup again is a full backup, but follows full/,
    ],
    [
      'an older backup missing a block source',
      [
        FULL,
        { ...INCR1, files: { ...INCR1.files, 'base/5/INCREMENTAL.16395': undefined as unknown as Buffer } },
        INCR2,
      ],
      /backup incr1 has neither base\/5\/16395 nor base\/5\/INCREMENTAL.16395, which incr2's base\/5\/INCREMENTAL.16395 needs/,
    ],
    [
      'a corrupt INCREMENTAL header in an older backup',
      [
        FULL,
        { ...INCR1, files: { ...INCR1.files, 'base/5/INCREMENTAL.16384': Buffer.from('garbage!garbage!') } },
        INCR2,
      ],
      /incremental file incr1: base\/5\/INCREMENTAL.16384 is damaged: magic number/,
    ],
  ];
  for (const [what, backups, message] of refused)
    test(`refuses ${what}, leaving nothing written`, async () => {
      const cleaned = backups.map((backup) => ({
        ...backup,
        files: Object.fromEntries(
          Object.entries(backup.files).filter(([, content]) => content !== undefined),
        ),
      }));
      const { destination, run } = combine(cleaned);
      await assert.rejects(run(), message);
      assert.equal(existsSync(destination), false);
    });

  test('a manifest-listed file missing from the disk is refused before anything is written', async () => {
    const dir = join(root, String(count++));
    const chain = [FULL, INCR1, INCR2].map((backup) => writeBackup(dir, backup));
    rmSync(join(dir, 'incr2', 'data', 'base/5/INCREMENTAL.16400'));
    const destination = join(dir, 'out');
    await assert.rejects(
      prepareCombine(chain),
      /backup incr2: its backup_manifest lists base\/5\/INCREMENTAL.16400, which is not in the backup/,
    );
    assert.equal(existsSync(destination), false);
  });

  const damaged: Array<[string, (dir: string) => void, RegExp]> = [
    [
      "a full backup's relation shorter than its manifest says (patched)",
      (dir) => writeFileSync(join(dir, 'full', 'data', 'base/5/16384'), block(0xa0)),
      /backup full: base\/5\/16384 \(.*full\/data\/base\/5\/16384\) is 8192 bytes, its backup_manifest says 32768: the backup is damaged/,
    ],
    [
      "a full backup's relation missing from the disk (copied whole)",
      (dir) => rmSync(join(dir, 'full', 'data', 'base/5/16395')),
      /base\/5\/16395/,
    ],
    [
      "an incremental's file missing from the disk",
      (dir) => rmSync(join(dir, 'incr1', 'data', 'base/5/INCREMENTAL.16384')),
      /base\/5\/INCREMENTAL.16384/,
    ],
  ];
  for (const [what, damage, message] of damaged)
    test(`stops on ${what}, naming the file, and removes what it wrote`, async () => {
      const dir = join(root, String(count++));
      const chain = [FULL, INCR1, INCR2].map((backup) => writeBackup(dir, backup));
      damage(dir);
      const destination = join(dir, 'out');
      await assert.rejects(
        combineChain({ backups: chain, destination, tablespaceDestinations: new Map() }),
        message,
      );
      assert.equal(existsSync(destination), false);
    });

  test('refuses a destination that is not empty, and leaves it alone', async () => {
    const { destination, run } = combine([FULL, INCR1]);
    mkdirSync(destination);
    writeFileSync(join(destination, 'keep'), 'mine');
    await assert.rejects(run(), /destination .*out is not empty/);
    assert.equal(readFileSync(join(destination, 'keep'), 'utf8'), 'mine');
  });
});
