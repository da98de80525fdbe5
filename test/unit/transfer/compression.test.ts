/**
 * WAL compression: round trips of every algorithm and level on WAL-like data and on empty input,
 * identification by magic bytes, corrupt input, streaming with bounded memory, custom filters and
 * the worker-thread pool. The bzip2 and xz streams run the Debian programs (installed here when
 * missing and running as root).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import {
  canonicalCompression,
  compressBuffer,
  CompressionError,
  CompressionPool,
  createCompressStream,
  createDecompressStream,
  decompressBuffer,
  decompressFile,
  identifyCompression,
  levelRange,
  MAGIC_HEADER_LENGTH,
  magicHeaderLength,
  resolveLevel,
  type CompressionLevel,
  type CompressionName,
  type CustomCompression,
} from '../../../src/transfer/compression/index.js';

const MiB = 1024 * 1024;
const PAGE = 8192;

/** Deterministic xorshift32 bytes. */
function randomBytes(length: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/**
 * WAL-like content: 8 KiB pages with a page header; about a quarter of the pages carry records
 * (random bytes, repeated tuples), the rest are zeros, as in a segment that was switched early.
 */
function walLike(size: number, seed: number): Buffer {
  const buffer = Buffer.alloc(size);
  const noise = randomBytes(Math.ceil(size / 8) + PAGE, seed);
  let noiseAt = 0;
  let state = seed;
  for (let page = 0; page * PAGE < size; page++) {
    const offset = page * PAGE;
    buffer.writeUInt16LE(0xd110, offset); // xlp_magic of PostgreSQL 15
    buffer.writeUInt16LE(page === 0 ? 0x0006 : 0x0005, offset + 2);
    buffer.writeUInt32LE(1, offset + 4);
    buffer.writeUInt32LE(offset, offset + 8);
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    if (state % 4 === 0) {
      const used = 24 + (state % (PAGE - 24));
      const half = (used - 24) >>> 1;
      if (noiseAt + half > noise.length) noiseAt = 0;
      noise.copy(buffer, offset + 24, noiseAt, noiseAt + half);
      noiseAt += half;
      buffer.fill('INSERT INTO t VALUES (42);', offset + 24 + half, offset + used);
    }
  }
  return buffer;
}

const WAL = walLike(16 * MiB, 7);
const ALGORITHMS = ['gzip', 'bzip2', 'xz', 'zstd', 'lz4', 'snappy'] as const;
const ALIASES = ['pigz', 'pygzip', 'pybzip2'] as const;
const LEVELS: CompressionLevel[] = ['low', 'medium', 'high'];
const CUSTOM: CustomCompression = {
  compressFilter: 'gzip -1 -c',
  decompressFilter: 'gzip -d -c',
  magic: null,
};

/** Debian package providing each program the bzip2/xz streams and the custom filters run. */
const PROGRAMS: Record<string, string> = { bzip2: 'bzip2', xz: 'xz-utils', gzip: 'gzip' };

function installMissingPrograms(): void {
  const missing = Object.entries(PROGRAMS)
    .filter(([program]) => !['/usr/bin', '/bin'].some((dir) => existsSync(join(dir, program))))
    .map(([, pkg]) => pkg);
  if (missing.length === 0 || process.getuid?.() !== 0) return;
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore', env });
  spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    stdio: 'ignore',
    env,
  });
}

let dir = '';
before(() => {
  installMissingPrograms();
  dir = mkdtempSync(join(tmpdir(), 'barman-ts-compression-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('round trips on a 16 MiB WAL-like segment', () => {
  for (const name of ALGORITHMS) {
    for (const level of LEVELS) {
      test(`${name} ${String(level)}`, async (t) => {
        let start = performance.now();
        const compressed = await compressBuffer(name, WAL, { level });
        const compressMs = performance.now() - start;
        start = performance.now();
        const restored = await decompressBuffer(name, compressed);
        const decompressMs = performance.now() - start;
        assert.ok(restored.equals(WAL), 'decompressed data differs');
        assert.ok(
          compressed.length < WAL.length / 2,
          `${name} did not compress (${compressed.length} bytes)`,
        );
        assert.equal(identifyCompression(compressed.subarray(0, MAGIC_HEADER_LENGTH)), name);
        t.diagnostic(
          `${name} ${String(level)}: ${compressed.length} bytes, compress ${compressMs.toFixed(0)} ms, ` +
            `decompress ${decompressMs.toFixed(0)} ms`,
        );
      });
    }
  }

  for (const name of ALIASES) {
    test(`${name} writes the ${canonicalCompression(name)} format`, async () => {
      const compressed = await compressBuffer(name, WAL);
      assert.equal(identifyCompression(compressed), canonicalCompression(name));
      assert.ok((await decompressBuffer(name, compressed)).equals(WAL));
      assert.ok((await decompressBuffer(canonicalCompression(name), compressed)).equals(WAL));
    });
  }

  test('integer levels are clamped to the range of each algorithm', async () => {
    const sample = WAL.subarray(0, MiB);
    for (const name of ALGORITHMS) {
      for (const level of [-5, 0, 1, 4, 12, 99]) {
        const compressed = await compressBuffer(name, sample, { level });
        assert.ok((await decompressBuffer(name, compressed)).equals(sample), `${name} level ${level}`);
      }
    }
  });

  test('custom filters run through sh -c', async () => {
    const compressed = await compressBuffer('custom', WAL, { custom: CUSTOM });
    assert.equal(identifyCompression(compressed), 'gzip');
    assert.ok((await decompressBuffer('custom', compressed, { custom: CUSTOM })).equals(WAL));
    assert.ok((await decompressBuffer('gzip', compressed)).equals(WAL));
  });
});

describe('empty input', () => {
  for (const name of ALGORITHMS) {
    test(name, async () => {
      const compressed = await compressBuffer(name, Buffer.alloc(0));
      assert.ok(compressed.length > 0, 'an empty input still gives a valid stream');
      assert.equal(identifyCompression(compressed), name);
      assert.equal((await decompressBuffer(name, compressed)).length, 0);
    });
  }
  test('custom', async () => {
    const compressed = await compressBuffer('custom', Buffer.alloc(0), { custom: CUSTOM });
    assert.equal((await decompressBuffer('custom', compressed, { custom: CUSTOM })).length, 0);
  });
});

describe('small and odd-sized inputs', () => {
  const samples = [Buffer.from('x'), randomBytes(13, 3), randomBytes(65537, 4), Buffer.alloc(300_000, 0x41)];
  for (const name of ALGORITHMS) {
    test(name, async () => {
      for (const sample of samples) {
        const restored = await decompressBuffer(name, await compressBuffer(name, sample, { level: 'high' }));
        assert.ok(restored.equals(sample), `${name}: ${sample.length} bytes`);
      }
    });
  }
});

describe('identifyCompression', () => {
  test('reads the magic bytes of each format', () => {
    const cases: Array<[number[], CompressionName]> = [
      [[0x42, 0x5a, 0x68, 0x39], 'bzip2'],
      [[0x1f, 0x8b, 0x08, 0x00], 'gzip'],
      [[0x04, 0x22, 0x4d, 0x18, 0x64], 'lz4'],
      [[0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59], 'snappy'],
      [[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00], 'xz'],
      [[0x28, 0xb5, 0x2f, 0xfd], 'zstd'],
    ];
    for (const [bytes, name] of cases) assert.equal(identifyCompression(Buffer.from(bytes)), name);
  });

  test('plain data, short headers and near misses are not compressed', () => {
    assert.equal(identifyCompression(WAL.subarray(0, MAGIC_HEADER_LENGTH)), null);
    assert.equal(identifyCompression(Buffer.from('00000001.history')), null);
    assert.equal(identifyCompression(Buffer.alloc(0)), null);
    assert.equal(identifyCompression(Buffer.from([0x1f, 0x8b])), null);
    assert.equal(identifyCompression(Buffer.from([0x1f, 0x8b, 0x09])), null);
    assert.equal(
      identifyCompression(Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70])),
      null,
    );
    assert.equal(MAGIC_HEADER_LENGTH, 10);
  });

  test('custom magic, in the registry order of its name', () => {
    const custom: CustomCompression = { ...CUSTOM, magic: Buffer.from([0xca, 0xfe, 0xba, 0xbe]) };
    assert.equal(identifyCompression(Buffer.from([0xca, 0xfe, 0xba, 0xbe, 0]), custom), 'custom');
    assert.equal(identifyCompression(Buffer.from([0xca, 0xfe]), custom), null);
    assert.equal(identifyCompression(WAL, custom), null);
    // 'custom' sorts after 'bzip2' and before 'gzip': a gzip-like magic is reported as custom.
    const gzipLike: CustomCompression = { ...CUSTOM, magic: Buffer.from([0x1f, 0x8b]) };
    assert.equal(identifyCompression(Buffer.from([0x1f, 0x8b, 0x08]), gzipLike), 'custom');
    const bzipLike: CustomCompression = { ...CUSTOM, magic: Buffer.from('BZ') };
    assert.equal(identifyCompression(Buffer.from('BZh9'), bzipLike), 'bzip2');
    const long: CustomCompression = { ...CUSTOM, magic: Buffer.alloc(16, 7) };
    assert.equal(magicHeaderLength(long), 16);
    assert.equal(magicHeaderLength(null), MAGIC_HEADER_LENGTH);
  });

  test('custom compression without a magic claims every unidentified file', () => {
    assert.equal(identifyCompression(WAL, CUSTOM), 'custom');
    assert.equal(identifyCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), CUSTOM), 'zstd');
    assert.equal(identifyCompression(WAL, null), null);
  });
});

describe('levels', () => {
  test('named levels and clamping', () => {
    assert.deepEqual(
      ['low', 'medium', 'high'].map((level) => resolveLevel('gzip', level as CompressionLevel)),
      [1, 6, 9],
    );
    assert.equal(resolveLevel('zstd', undefined), 3);
    assert.equal(resolveLevel('zstd', 'high'), 19);
    assert.equal(resolveLevel('zstd', 22), 19);
    assert.equal(resolveLevel('xz', -3), 0);
    assert.equal(resolveLevel('bzip2', 0), 1);
    assert.equal(resolveLevel('lz4', 'low'), 0);
    assert.equal(resolveLevel('lz4', 'high'), 9);
    assert.equal(resolveLevel('gzip', 4.7), 4);
    assert.deepEqual(levelRange('gzip'), { min: 1, max: 9 });
    assert.throws(() => resolveLevel('gzip', Number.NaN), CompressionError);
  });
});

describe('corrupt input fails instead of hanging', () => {
  const sample = WAL.subarray(0, 4 * MiB);

  /** Flips bytes in the middle of the compressed data, away from headers. */
  function flipMiddle(data: Buffer): Buffer {
    const copy = Buffer.from(data);
    const middle = Math.floor(copy.length / 2);
    for (let i = middle; i < middle + 16 && i < copy.length; i++) copy[i] = copy[i]! ^ 0x5a;
    return copy;
  }

  for (const name of ALGORITHMS) {
    test(name, { timeout: 60_000 }, async () => {
      const compressed = await compressBuffer(name, sample);
      const truncated = compressed.subarray(0, Math.floor(compressed.length / 2));
      await assert.rejects(decompressBuffer(name, truncated), Error, `${name}: truncated`);
      await assert.rejects(decompressBuffer(name, Buffer.from('this is not compressed data at all')), Error);
      const garbageTail = Buffer.concat([compressed.subarray(0, 64), randomBytes(4096, 11)]);
      await assert.rejects(decompressBuffer(name, garbageTail), Error, `${name}: garbage`);
      if (name !== 'zstd') {
        // zstd frames written by Barman and by barman-ts carry no checksum.
        await assert.rejects(decompressBuffer(name, flipMiddle(compressed)), Error, `${name}: flipped bytes`);
      }
    });
  }

  test('errors are CompressionErrors and name the algorithm', async () => {
    const error = await decompressBuffer('gzip', Buffer.from('nope')).catch((caught: unknown) => caught);
    assert.ok(error instanceof CompressionError);
    assert.match(error.message, /gzip decompression failed/);
    const lz4 = await decompressBuffer('lz4', Buffer.from('nope')).catch((caught: unknown) => caught);
    assert.ok(lz4 instanceof CompressionError);
    assert.match(lz4.message, /lz4/);
  });

  test('a failing custom filter reports its status and stderr', async () => {
    const failing: CustomCompression = {
      compressFilter: 'echo broken >&2; exit 3',
      decompressFilter: 'cat',
      magic: null,
    };
    await assert.rejects(compressBuffer('custom', WAL, { custom: failing }), /exited with status 3: broken/);
    const missing: CustomCompression = { ...failing, compressFilter: 'no-such-program-xyz' };
    await assert.rejects(compressBuffer('custom', WAL, { custom: missing }), /status 127/);
  });

  test('custom compression without filters is refused', async () => {
    await assert.rejects(compressBuffer('custom', WAL), CompressionError);
    await assert.rejects(decompressBuffer('custom', WAL, { custom: null }), CompressionError);
  });
});

describe('concatenated streams', () => {
  const a = walLike(MiB, 21);
  const b = walLike(MiB, 22);
  for (const name of ALGORITHMS) {
    test(`${name}: two streams back to back decompress to both inputs`, async () => {
      const joined = Buffer.concat([await compressBuffer(name, a), await compressBuffer(name, b)]);
      assert.ok((await decompressBuffer(name, joined)).equals(Buffer.concat([a, b])));
    });
  }
});

describe('streaming', () => {
  /** Streams `total` bytes of generated data through compression and decompression. */
  async function streamThrough(name: CompressionName, total: number): Promise<{ peakRss: number }> {
    const block = walLike(4 * MiB, 99);
    let produced = 0;
    const source = new Readable({
      read() {
        if (produced >= total) {
          this.push(null);
          return;
        }
        produced += block.length;
        this.push(block);
      },
    });
    const expected = createHash('sha256');
    for (let i = 0; i < total; i += block.length) expected.update(block);
    const actual = createHash('sha256');
    let received = 0;
    let peakRss = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        actual.update(chunk);
        received += chunk.length;
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        callback();
      },
    });
    await pipeline(source, createCompressStream(name, { level: 'low' }), createDecompressStream(name), sink);
    assert.equal(received, total);
    assert.equal(actual.digest('hex'), expected.digest('hex'));
    return { peakRss };
  }

  // bzip2 and xz stream through their programs, which are slower: a smaller volume proves the same.
  const volumes = { gzip: 256, zstd: 256, lz4: 256, snappy: 256, bzip2: 48, xz: 64 } as const;
  for (const [name, mib] of Object.entries(volumes) as Array<[CompressionName, number]>) {
    test(`${name}: ${mib} MiB stream with bounded memory`, { timeout: 180_000 }, async () => {
      const before = process.memoryUsage().rss;
      const { peakRss } = await streamThrough(name, mib * MiB);
      assert.ok(peakRss - before < 160 * MiB, `${name} used ${((peakRss - before) / MiB).toFixed(0)} MiB`);
    });
  }
});

describe('CompressionPool', () => {
  test('compresses several files in parallel and closes', { timeout: 120_000 }, async () => {
    const pool = new CompressionPool(2);
    const jobs: Array<{ name: CompressionName; source: string; data: Buffer }> = [];
    const names: CompressionName[] = ['gzip', 'zstd', 'lz4', 'snappy', 'bzip2', 'xz', 'pigz', 'zstd'];
    names.forEach((name, index) => {
      const data = walLike(8 * MiB, 100 + index);
      const source = join(dir, `00000001000000000000000${index}`);
      writeFileSync(source, data);
      jobs.push({ name, source, data });
    });
    const results = await Promise.all(
      jobs.map(({ name, source }) =>
        pool.compressFile(name, source, `${source}.${name}`, { level: 'medium' }),
      ),
    );
    for (const [index, { name, source, data }] of jobs.entries()) {
      const stored = readFileSync(`${source}.${name}`);
      assert.equal(results[index]!.bytesIn, data.length);
      assert.equal(results[index]!.bytesOut, stored.length);
      assert.equal(identifyCompression(stored), canonicalCompression(name));
      assert.ok((await decompressBuffer(name, stored)).equals(data), name);
    }

    const restored = join(dir, 'restored');
    const sizes = await pool.decompressFile('zstd', `${jobs[1]!.source}.zstd`, restored);
    assert.equal(sizes.bytesOut, jobs[1]!.data.length);
    assert.ok(readFileSync(restored).equals(jobs[1]!.data));

    const custom = await pool.compressFile('custom', jobs[0]!.source, join(dir, 'custom.gz'), {
      custom: CUSTOM,
    });
    assert.equal(custom.bytesOut, statSync(join(dir, 'custom.gz')).size);

    await assert.rejects(pool.compressFile('gzip', join(dir, 'missing'), join(dir, 'out')), {
      code: 'ENOENT',
    });
    await assert.rejects(pool.compressFile('gzip', jobs[0]!.source, join(dir, 'out'), { level: Number.NaN }));
    // The pool still works after a failed task.
    await pool.compressFile('lz4', jobs[0]!.source, join(dir, 'again.lz4'));

    await pool.close();
    await assert.rejects(pool.compressFile('gzip', jobs[0]!.source, join(dir, 'late')), /closed/);
  });

  test(
    'compresses whole files into memory on its threads, any file size after any other',
    {
      timeout: 120_000,
    },
    async () => {
      const pool = new CompressionPool(2);
      // Each thread reuses its read buffer: a smaller file after a larger one must not carry
      // the larger one's tail, and an empty file is an empty stream.
      const sizes = [6 * MiB, MiB + 3 * PAGE, 0, 3 * MiB, 16 * MiB];
      const names: CompressionName[] = ['gzip', 'zstd', 'lz4', 'snappy', 'xz'];
      const jobs = sizes.flatMap((size, index) =>
        names.map((name) => {
          const data = walLike(size, 300 + index);
          const source = join(dir, `whole-${index}-${name}`);
          writeFileSync(source, data);
          return { name, source, data };
        }),
      );
      const results = await Promise.all(
        jobs.map(({ name, source }) => pool.compressFileToBuffer(name, source, { level: 'low' })),
      );
      for (const [index, { name, data }] of jobs.entries()) {
        const { data: compressed, bytesIn } = results[index]!;
        assert.equal(bytesIn, data.length);
        assert.equal(identifyCompression(compressed), canonicalCompression(name));
        assert.ok((await decompressBuffer(name, compressed)).equals(data), `${name}, ${data.length} bytes`);
      }
      // gzip at the level asked for: level 1 and 9 differ on WAL-like data.
      const low = await pool.compressFileToBuffer('gzip', jobs[0]!.source, { level: 1 });
      const high = await pool.compressFileToBuffer('gzip', jobs[0]!.source, { level: 9 });
      assert.ok(high.data.length < low.data.length);
      await assert.rejects(pool.compressFileToBuffer('gzip', join(dir, 'missing')), { code: 'ENOENT' });
      await pool.close();
      await assert.rejects(pool.compressFileToBuffer('gzip', jobs[0]!.source), /closed/);
    },
  );

  test('close() waits for the tasks already submitted', { timeout: 60_000 }, async () => {
    const pool = new CompressionPool(1);
    const source = join(dir, 'wait-source');
    writeFileSync(source, WAL);
    const pending = [1, 2, 3].map((n) => pool.compressFile('gzip', source, join(dir, `wait-${n}.gz`)));
    await pool.close();
    for (const sizes of await Promise.all(pending)) assert.equal(sizes.bytesIn, WAL.length);
    const restored = join(dir, 'wait-restored');
    await decompressFile('gzip', join(dir, 'wait-3.gz'), restored);
    assert.ok(readFileSync(restored).equals(WAL));
  });
});
