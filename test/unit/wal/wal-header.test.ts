/**
 * parseWalHeader: the long page header of a WAL segment, as the archiver reads it to learn the
 * cluster's identity. The magic numbers are PostgreSQL's XLOG_PAGE_MAGIC, as read from real
 * segments of each version (the version matrix reads 15 to 18 from live clusters).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseWalHeader, WAL_HEADER_LENGTH } from '../../../src/wal/wal-header.js';

function header(magic: number, overrides: { info?: number; segmentSize?: number } = {}): Buffer {
  const bytes = Buffer.alloc(WAL_HEADER_LENGTH);
  bytes.writeUInt16LE(magic, 0);
  bytes.writeUInt16LE(overrides.info ?? 0x0002, 2); // XLP_LONG_HEADER
  bytes.writeUInt32LE(1, 4); // timeline
  bytes.writeBigUInt64LE(0x3000000n, 8); // page address
  bytes.writeBigUInt64LE(7433421937411215389n, 24); // system identifier
  bytes.writeUInt32LE(overrides.segmentSize ?? 16 * 1024 * 1024, 32);
  bytes.writeUInt32LE(8192, 36);
  return bytes;
}

describe('parseWalHeader', () => {
  for (const [magic, version] of [
    [0xd110, '15'],
    [0xd113, '16'],
    [0xd116, '17'],
    [0xd118, '18'],
  ] as const) {
    test(`magic 0x${magic.toString(16)} is PostgreSQL ${version}`, () => {
      const parsed = parseWalHeader(header(magic));
      assert.ok(!('invalid' in parsed));
      assert.equal(parsed.majorVersion, version);
      assert.equal(parsed.systemIdentifier, '7433421937411215389');
      assert.equal(parsed.timeline, 1);
      assert.equal(parsed.pageAddress, 0x3000000n);
    });
  }

  test('an unknown magic is accepted with no version (a newer PostgreSQL)', () => {
    const parsed = parseWalHeader(header(0xd120));
    assert.ok(!('invalid' in parsed));
    assert.equal(parsed.majorVersion, null);
  });

  test('refuses what is not the first page of a segment', () => {
    assert.deepEqual(parseWalHeader(header(0xd118, { info: 0 })), {
      invalid: 'the first page has no long header',
    });
    assert.deepEqual(parseWalHeader(header(0xd118, { segmentSize: 12345 })), {
      invalid: 'implausible segment size 12345',
    });
    assert.deepEqual(parseWalHeader(Buffer.alloc(10)), { invalid: 'too short for a WAL header (10 bytes)' });
  });
});
