import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  PAGE_SIZE,
  PageChecksumVerifier,
  pageChecksum,
  pageLsn,
  relationFileOf,
} from '../../../src/catalog/page-checksum.js';

/** test/fixtures/postgresql-15-pages (this file runs from dist/test/unit/catalog/). */
const PAGES = readFileSync(
  fileURLToPath(
    new URL('../../../../test/fixtures/postgresql-15-pages/heap-blocks-3-4.bin', import.meta.url),
  ),
);
const block3 = () => Buffer.from(PAGES.subarray(0, PAGE_SIZE));
const block4 = () => Buffer.from(PAGES.subarray(PAGE_SIZE, 2 * PAGE_SIZE));
const stored = (page: Buffer) => page.readUInt16LE(8);
/** Past every fixture page's LSN: every page is checked. */
const AFTER_ALL = 0xffffffffffffn;

function verify(path: string, data: Buffer, startLsn = AFTER_ALL, chunk = data.length) {
  const verifier = new PageChecksumVerifier(relationFileOf(path)!, startLsn);
  for (let offset = 0; offset < data.length; offset += chunk)
    verifier.update(data.subarray(offset, offset + chunk));
  return verifier;
}

describe('pageChecksum', () => {
  it('matches the checksum PostgreSQL 15 stored in real pages', () => {
    assert.equal(pageChecksum(block3(), 3), stored(block3()));
    assert.equal(pageChecksum(block4(), 4), stored(block4()));
  });

  it('reads pages at any alignment in memory', () => {
    const shifted = Buffer.alloc(PAGE_SIZE + 1);
    block3().copy(shifted, 1);
    assert.equal(pageChecksum(shifted.subarray(1), 3), stored(block3()));
    assert.equal(pageChecksum(Buffer.from(block3()), 3), stored(block3()));
  });

  it('depends on the block number (a page moved elsewhere fails)', () => {
    assert.notEqual(pageChecksum(block3(), 4), stored(block3()));
  });

  it('ignores the stored checksum itself and sees any other changed byte', () => {
    const page = block3();
    page.writeUInt16LE(12345, 8);
    assert.equal(pageChecksum(page, 3), stored(block3()));
    page[5000] = page[5000]! ^ 0x01;
    assert.notEqual(pageChecksum(page, 3), stored(block3()));
  });
});

describe('PageChecksumVerifier', () => {
  const twoBlocks = () => {
    // A relation file of 5 blocks where blocks 3 and 4 are the fixture pages, 0-2 new (zeroed).
    return Buffer.concat([Buffer.alloc(3 * PAGE_SIZE), block3(), block4()]);
  };

  it('passes sound pages and skips new (zeroed) ones, whatever the chunk sizes', () => {
    for (const chunk of [PAGE_SIZE * 5, PAGE_SIZE, 1000, 8191, 65536]) {
      const verifier = verify('base/5/16384', twoBlocks(), AFTER_ALL, chunk);
      assert.deepEqual(verifier.failures, [], `chunks of ${chunk}`);
      assert.equal(verifier.pagesChecked, 2);
    }
  });

  it('names the block of a corrupt page, with the stored and calculated checksums', () => {
    const data = twoBlocks();
    data[4 * PAGE_SIZE + 300] = data[4 * PAGE_SIZE + 300]! ^ 0xff;
    const verifier = verify('base/5/16384', data, AFTER_ALL, 1000);
    assert.equal(verifier.failures.length, 1);
    assert.equal(verifier.failures[0]!.block, 4);
    assert.equal(verifier.failures[0]!.expected, stored(block4()));
    assert.equal(verifier.failures[0]!.calculated, pageChecksum(data.subarray(4 * PAGE_SIZE), 4));
  });

  it('counts blocks across 1 GB segments: the same pages in segment 1 are blocks 131075 and 131076', () => {
    const verifier = verify('base/5/16384.1', twoBlocks());
    assert.deepEqual(
      verifier.failures.map((failure) => failure.block),
      [131075, 131076],
    );
  });

  it('leaves pages written after the backup started to WAL replay', () => {
    const data = twoBlocks();
    const start = pageLsn(block4()) + 1n;
    // Block 3 rewritten after the start (its LSN is newer) and caught torn: not checked.
    data.writeUInt32LE(Number(start >> 32n) + 1, 3 * PAGE_SIZE);
    data[3 * PAGE_SIZE + 300] = data[3 * PAGE_SIZE + 300]! ^ 0xff;
    const verifier = verify('base/5/16384', data, start);
    assert.deepEqual(verifier.failures, []);
    assert.equal(verifier.pagesChecked, 1);
  });

  it('compares page LSNs with the start in full: the high half first, then the low half', () => {
    const lsns = [pageLsn(block3()), pageLsn(block4())];
    const checkedBefore = (start: bigint) => lsns.filter((lsn) => lsn < start).length;
    for (const lsn of lsns) {
      const high = lsn >> 32n;
      for (const start of [lsn, lsn + 1n, lsn - 1n, high << 32n, (high + 1n) << 32n, lsn + (1n << 32n)]) {
        if (start < 0n) continue;
        assert.equal(
          verify('base/5/16384', twoBlocks(), start).pagesChecked,
          checkedBefore(start),
          `start ${start.toString(16)}`,
        );
      }
    }
  });

  it('does not check a trailing partial page (a file extended while copied)', () => {
    const verifier = verify('base/5/16384', Buffer.concat([block3(), Buffer.alloc(100, 7)]).subarray(0));
    // block3 sits at block 0 here: its checksum was made for block 3, so it fails; the 100 bytes are ignored.
    assert.equal(verifier.failures.length, 1);
    assert.equal(verifier.pagesChecked, 1);
  });
});

describe('relationFileOf', () => {
  it('reads relation files in base/, global/ and tablespaces, with forks and segments', () => {
    assert.deepEqual(relationFileOf('base/16384/16385'), {
      tablespaceOid: null,
      databaseOid: 16384,
      relfilenode: 16385,
      fork: 'main',
      segment: 0,
    });
    assert.deepEqual(relationFileOf('global/1262_vm'), {
      tablespaceOid: null,
      databaseOid: null,
      relfilenode: 1262,
      fork: 'vm',
      segment: 0,
    });
    assert.deepEqual(relationFileOf('pg_tblspc/16390/PG_15_202209061/5/16391_fsm.2'), {
      tablespaceOid: 16390,
      databaseOid: 5,
      relfilenode: 16391,
      fork: 'fsm',
      segment: 2,
    });
  });

  it('leaves out every other file', () => {
    for (const path of [
      'global/pg_control',
      'global/pg_filenode.map',
      'base/5/pg_internal.init',
      'base/5/PG_VERSION',
      'base/5/INCREMENTAL.16384',
      'base/pgsql_tmp/pgsql_tmp123.0',
      'base/5/t3_16384',
      'pg_wal/000000010000000000000001',
      'postgresql.conf',
    ])
      assert.equal(relationFileOf(path), null, path);
  });
});
