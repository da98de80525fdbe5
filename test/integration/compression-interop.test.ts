/**
 * Interoperability of barman-ts WAL compression with the real tools: what barman-ts writes is
 * decompressed by gzip/bzip2/xz/zstd/lz4 and by the Python libraries Barman 3.17 uses
 * (zstandard, lz4.frame, python-snappy's framing), and what they write is decompressed by
 * barman-ts, byte for byte. Missing Debian packages are installed first when running as root.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { requireDebianPackages } from '../harness/index.js';
import {
  compressBuffer,
  compressFile,
  decompressBuffer,
  decompressFile,
  identifyCompression,
  type CompressionName,
} from '../../src/transfer/compression/index.js';

const MiB = 1024 * 1024;
const PYTHON = '/usr/bin/python3';

/** Debian's python3 packages install for the system interpreter, not for any other python3 on PATH. */
const TOOLS = {
  gzip: 'gzip',
  bzip2: 'bzip2',
  xz: 'xz-utils',
  zstd: 'zstd',
  lz4: 'lz4',
} as const;
const PYTHON_MODULES = {
  zstandard: 'python3-zstandard',
  'lz4.frame': 'python3-lz4',
  snappy: 'python3-snappy',
} as const;

function hasProgram(program: string): boolean {
  return ['/usr/bin', '/bin', '/usr/local/bin'].some((dir) => existsSync(join(dir, program)));
}

function hasPythonModule(module: string): boolean {
  return (
    existsSync(PYTHON) && spawnSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0
  );
}

/** WAL-like data: 8 KiB pages, a quarter of them with records, the rest zeros. */
function walLike(size: number, seed: number): Buffer {
  const buffer = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  const next = (): number => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return x >>> 0;
  };
  for (let offset = 0; offset < size; offset += 8192) {
    buffer.writeUInt32LE(0x0005d110, offset);
    buffer.writeUInt32LE(offset, offset + 8);
    if (next() % 4 !== 0) continue;
    const used = 24 + (next() % 8000);
    for (let i = offset + 24; i < offset + used; i += 4) {
      buffer.writeUInt32LE(i < offset + used / 2 ? next() : 0x2a2a2a2a, i);
    }
  }
  return buffer;
}

const DATA = walLike(16 * MiB, 2024);

/** Runs a program from an argument array and returns its stdout. */
function run(program: string, args: string[], input?: Buffer): Buffer {
  return execFileSync(program, args, { input, maxBuffer: 256 * MiB, stdio: ['pipe', 'pipe', 'pipe'] });
}

let dir = '';
let source = '';
before(() => {
  requireDebianPackages(
    ...Object.values(TOOLS).filter((pkg) => pkg !== 'gzip'),
    ...Object.values(PYTHON_MODULES),
  );
  dir = mkdtempSync(join(tmpdir(), 'barman-ts-interop-'));
  source = join(dir, '000000010000000000000042');
  writeFileSync(source, DATA);
});
after(() => rmSync(dir, { recursive: true, force: true }));

// The interop partners are installed by npm test's pretest (scripts/debian-packages.json).
function requireProgram(_t: TestContext, program: string): boolean {
  assert.ok(
    hasProgram(program),
    `${program} is not installed (apt-get install ${TOOLS[program as keyof typeof TOOLS]})`,
  );
  return true;
}

function requireModule(_t: TestContext, module: keyof typeof PYTHON_MODULES): boolean {
  assert.ok(
    hasPythonModule(module),
    `${PYTHON} cannot import ${module} (apt-get install ${PYTHON_MODULES[module]})`,
  );
  return true;
}

/** name -> the program, and the extra command-line variants whose output barman-ts must read. */
const CLI: Array<{ name: CompressionName; program: string; variants: string[][] }> = [
  { name: 'gzip', program: 'gzip', variants: [['-1'], ['-9']] },
  { name: 'bzip2', program: 'bzip2', variants: [['-1'], ['-9']] },
  { name: 'xz', program: 'xz', variants: [['-0'], ['-6', '--check=sha256'], ['-9', '-e']] },
  {
    name: 'zstd',
    program: 'zstd',
    variants: [
      ['-q', '-1'],
      ['-q', '-19'],
      ['-q', '--no-check'],
      ['-q', '--long=27'],
    ],
  },
  {
    name: 'lz4',
    program: 'lz4',
    // -BD: linked blocks (python's lz4.frame default), -BX: block checksums, -B4: 64 KiB blocks.
    variants: [
      ['-q', '-1'],
      ['-q', '-9', '-BD'],
      ['-q', '-BX', '-B4', '--content-size'],
      ['-q', '--no-frame-crc'],
    ],
  },
];

describe('command-line tools', () => {
  for (const { name, program, variants } of CLI) {
    test(`${program} -d reads what barman-ts writes (every level)`, async (t) => {
      if (!requireProgram(t, program)) return;
      for (const level of ['low', 'medium', 'high'] as const) {
        const compressed = join(dir, `ours-${level}.${name}`);
        await compressFile(name, source, compressed, { level });
        assert.ok(run(program, ['-d', '-c', compressed]).equals(DATA), `${program} -d of ${level}`);
      }
      const empty = await compressBuffer(name, Buffer.alloc(0));
      assert.equal(run(program, ['-d', '-c'], empty).length, 0, `${program} -d of an empty stream`);
    });

    test(`barman-ts reads what ${program} writes`, async (t) => {
      if (!requireProgram(t, program)) return;
      for (const args of [[], ...variants]) {
        const compressed = run(program, ['-c', ...args, source]);
        assert.equal(identifyCompression(compressed), name);
        const restored = await decompressBuffer(name, compressed);
        assert.ok(restored.equals(DATA), `${program} ${args.join(' ')}`);
      }
      const file = join(dir, `theirs.${name}`);
      writeFileSync(file, run(program, ['-c', source]));
      const restored = join(dir, `theirs-restored.${name}`);
      const sizes = await decompressFile(name, file, restored);
      assert.equal(sizes.bytesOut, DATA.length);
      assert.ok(readFileSync(restored).equals(DATA));
      const empty = run(program, ['-c'], Buffer.alloc(0));
      assert.equal((await decompressBuffer(name, empty)).length, 0, `empty ${program} stream`);
    });
  }
});

/**
 * Python helpers doing what Barman 3.17's compressors do, reading and writing files named on
 * the command line. Debian 12's python3-snappy computes CRC-32C in a C helper that fails on
 * Python 3.11 (SystemError about PY_SSIZE_T_CLEAN); it is replaced by a table-driven Python
 * version so that python-snappy's own framing code (StreamCompressor/StreamDecompressor) runs.
 */
const PYTHON_SCRIPT = String.raw`
import shutil, sys
op, src, dst, level = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if op.endswith('zstd'):
    import zstandard
    with open(src, 'rb') as i, open(dst, 'wb') as o:
        if op == 'compress-zstd':
            with zstandard.ZstdCompressor(level=level).stream_writer(o, closefd=False) as w:
                shutil.copyfileobj(i, w)
        elif op == 'decompress-zstd':
            zstandard.ZstdDecompressor().copy_stream(i, o)
        else:
            shutil.copyfileobj(zstandard.ZstdDecompressor().stream_reader(i), o)
elif op.endswith('lz4'):
    import lz4.frame
    if op == 'compress-lz4':
        with open(src, 'rb') as i, lz4.frame.open(dst, 'wb', compression_level=level) as o:
            shutil.copyfileobj(i, o)
    else:
        with lz4.frame.open(src, 'rb') as i, open(dst, 'wb') as o:
            shutil.copyfileobj(i, o)
else:
    import snappy, snappy.snappy as impl
    try:
        impl._crc32c(b'x')
    except SystemError:
        table = []
        for n in range(256):
            c = n
            for _ in range(8):
                c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
            table.append(c)
        def crc32c(data):
            c = 0xFFFFFFFF
            for b in data:
                c = table[(c ^ b) & 0xFF] ^ (c >> 8)
            return c ^ 0xFFFFFFFF
        impl._crc32c = crc32c
    with open(src, 'rb') as i, open(dst, 'wb') as o:
        (snappy.stream_compress if op == 'compress-snappy' else snappy.stream_decompress)(i, o)
`;

function python(operation: string, from: string, to: string, level = 0): void {
  run(PYTHON, ['-c', PYTHON_SCRIPT, operation, from, to, String(level)]);
}

const PYTHON_CASES: Array<{
  name: CompressionName;
  module: keyof typeof PYTHON_MODULES;
  decompressors: string[];
  levels: number[];
}> = [
  { name: 'zstd', module: 'zstandard', decompressors: ['decompress-zstd', 'read-zstd'], levels: [1, 3, 19] },
  { name: 'lz4', module: 'lz4.frame', decompressors: ['decompress-lz4'], levels: [0, 9] },
  { name: 'snappy', module: 'snappy', decompressors: ['decompress-snappy'], levels: [0] },
];

describe('the Python libraries of Barman 3.17', () => {
  for (const { name, module, decompressors, levels } of PYTHON_CASES) {
    test(`python ${module} reads what barman-ts writes`, async (t) => {
      if (!requireModule(t, module)) return;
      for (const level of ['low', 'high'] as const) {
        const compressed = join(dir, `py-ours-${level}.${name}`);
        await compressFile(name, source, compressed, { level });
        for (const operation of decompressors) {
          const restored = join(dir, `py-restored-${level}.${name}`);
          python(operation, compressed, restored);
          assert.ok(readFileSync(restored).equals(DATA), `${operation} of ${level}`);
        }
      }
    });

    test(`barman-ts reads what python ${module} writes`, async (t) => {
      if (!requireModule(t, module)) return;
      for (const level of levels) {
        const compressed = join(dir, `py-theirs-${level}.${name}`);
        python(`compress-${name}`, source, compressed, level);
        const stored = readFileSync(compressed);
        assert.equal(identifyCompression(stored), name);
        assert.ok((await decompressBuffer(name, stored)).equals(DATA), `${module} level ${level}`);
      }
    });
  }
});
