/**
 * The one tar writer and the one tar reader (src/transfer/). The writer's headers are pinned byte
 * for byte to what barman-wal-archive and local-to-cloud wrote before they shared it (SHA-256 of
 * the header blocks), and the reader reads Barman's own barman-wal-archive stream (Python's
 * tarfile, PAX format), produced here by Debian's Barman 3.4 classes when they are installed.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { describe, test } from 'node:test';
import type { TarMember } from '../../../src/transfer/tar-reader.js';
import { readTar, TarFormatError } from '../../../src/transfer/tar-reader.js';
import type { TarMemberInfo } from '../../../src/transfer/tar-writer.js';
import { TAR_END, tarMemberHeader, tarPadding } from '../../../src/transfer/tar-writer.js';

const sha = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const mtime = 1764970000.75;
const walInfo: TarMemberInfo = { mode: 0o600, mtimeSeconds: mtime };
const fileInfo: TarMemberInfo = { mode: 0o100600, mtimeSeconds: mtime, uid: 26, gid: 26 };
const longName = `pg_tblspc/16385/PG_15_202209061/${'d'.repeat(90)}/é16386`;
const nineGiB = 9 * 1024 ** 3;

/** `archive` as a stream of chunks of `sizes` bytes in turn (the whole of it in one by default). */
function chunked(archive: Buffer, sizes: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  for (let offset = 0, turn = 0; offset < archive.length; turn += 1) {
    const size = sizes[turn % sizes.length]!;
    chunks.push(archive.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

async function membersOf(
  archive: Buffer,
  sizes: readonly number[] = [archive.length],
): Promise<Array<TarMember & { body: string }>> {
  const found: Array<TarMember & { body: string }> = [];
  await readTar(Readable.from(chunked(archive, sizes)), async (member, body) => {
    const chunks: Buffer[] = [];
    await body((chunk) => {
      chunks.push(Buffer.from(chunk));
      return Promise.resolve();
    });
    found.push({ ...member, body: Buffer.concat(chunks).toString('utf8') });
  });
  return found;
}

function archiveOf(members: Array<[string, '0' | '5', string, TarMemberInfo]>): Buffer {
  return Buffer.concat([
    ...members.flatMap(([name, type, body, info]) => [
      tarMemberHeader(name, type, Buffer.byteLength(body), info),
      Buffer.from(body),
      tarPadding(Buffer.byteLength(body)),
    ]),
    TAR_END,
  ]);
}

describe('tar writer', () => {
  test('headers are byte-identical to the ones written before (WAL clients, local-to-cloud)', () => {
    const cases: Array<[string, Buffer, string]> = [
      [
        'WAL segment',
        tarMemberHeader('000000010000000000000001', '0', 16777216, walInfo),
        'd114e7bc24a30d4add11d232e0ea9bc968c15e3904427b879b51b53a38d20210',
      ],
      [
        'SHA256SUMS',
        tarMemberHeader('SHA256SUMS', '0', 91, walInfo),
        '13255cbb43f0418d00a32d74af079af3f8be06e80bb223ae497f44141b72b22c',
      ],
      [
        'data file',
        tarMemberHeader('base/1/1259', '0', 8192, fileInfo),
        'b7667f428e31a1d95bf055de58df2ed0b3b50a8d7c6ccaafd7741c9b07d493eb',
      ],
      [
        'directory',
        tarMemberHeader('base/1/', '5', 0, { ...fileInfo, mode: 0o40700 }),
        '95529917bd6932b35d31f5478905eda01361b7324555ad8c204c7746a19ef4ae',
      ],
      [
        'long name (PAX path)',
        tarMemberHeader(longName, '0', 10, fileInfo),
        '5f2ad214af5fa6e6e5ce58ebc51146f815c269126eab041abad50202a31f62e6',
      ],
      [
        'over 8 GiB (PAX size)',
        tarMemberHeader('base/1/big', '0', nineGiB, fileInfo),
        '54f7b7ea92085c81887c4da2a5be8829c78e88f6d2dc2dee80c48efb79ae270e',
      ],
      [
        'long name and over 8 GiB',
        tarMemberHeader(longName, '0', nineGiB, fileInfo),
        'af26a9a7be674d0663444a8d98f70bc3ee5998e262c52f5de8b2d784ffd349d3',
      ],
    ];
    for (const [what, header, expected] of cases) assert.equal(sha(header), expected, what);
  });

  test('a short name is one ustar block with a valid checksum and octal fields', () => {
    const header = tarMemberHeader('000000010000000000000001', '0', 16777216, walInfo);
    assert.equal(header.length, 512);
    assert.equal(header.subarray(257, 263).toString('latin1'), 'ustar\0');
    assert.equal(header.subarray(124, 136).toString('latin1'), '00100000000\0');
    assert.equal(header.subarray(100, 108).toString('latin1'), '0000600\0');
    let sum = 0;
    for (let index = 0; index < 512; index += 1) sum += index >= 148 && index < 156 ? 32 : header[index]!;
    assert.equal(header.subarray(148, 156).toString('latin1'), `${sum.toString(8).padStart(6, '0')}\0 `);
  });

  test('over 8 GiB the size goes into a PAX record and the ustar field is zero', () => {
    const header = tarMemberHeader('base/1/big', '0', nineGiB, fileInfo);
    assert.equal(header.length, 3 * 512);
    assert.match(header.subarray(512, 1024).toString('latin1'), /^\d+ size=9663676416\n/);
    assert.equal(header.subarray(1024 + 124, 1024 + 136).toString('latin1'), '00000000000\0');
  });

  test('what the writer writes the reader reads back: long and non-ASCII names, directories', async () => {
    const members = await membersOf(
      archiveOf([
        ['base/', '5', '', { mode: 0o700, mtimeSeconds: mtime }],
        [longName, '0', 'tablespace', fileInfo],
        ['PG_VERSION', '0', '15\n', walInfo],
      ]),
    );
    assert.deepEqual(
      members.map(({ name, type, size, mode, mtime: seconds, body }) => [
        name,
        type,
        size,
        mode,
        seconds,
        body,
      ]),
      [
        ['base/', '5', 0, 0o700, 1764970000, ''],
        [longName, '0', 10, 0o600, 1764970000, 'tablespace'],
        ['PG_VERSION', '0', 3, 0o600, 1764970000, '15\n'],
      ],
    );
  });

  test('headers and bodies split across chunks of any size read back the same', async () => {
    const body = 'x'.repeat(3000) + 'end';
    const archive = archiveOf([
      [longName, '0', body, fileInfo],
      ['PG_VERSION', '0', '15\n', walInfo],
    ]);
    const whole = await membersOf(archive);
    for (const sizes of [[1], [7, 513], [511, 1], [1024, 3], [100_000]]) {
      assert.deepEqual(await membersOf(archive, sizes), whole, `chunks of ${sizes.join(', ')} bytes`);
    }
    assert.equal(whole[0]!.body, body);
  });
});

describe('tar reader', () => {
  test('a damaged header is refused, a stream cut inside a file too', async () => {
    const archive = archiveOf([['PG_VERSION', '0', '15\n', walInfo]]);
    const damaged = Buffer.from(archive);
    damaged[10] = 0x41;
    await assert.rejects(membersOf(damaged), TarFormatError);
    const header = tarMemberHeader('PG_VERSION', '0', 4096, walInfo);
    await assert.rejects(membersOf(Buffer.concat([header, Buffer.alloc(100)])), /ended inside a file/);
  });

  // Debian's python3 (a pyenv one on PATH does not see Debian's barman package).
  const barman = '/usr/lib/python3/dist-packages/barman/clients/walarchive.py';
  test(
    "reads the PAX stream of Barman's barman-wal-archive (ChecksumTarFile)",
    {
      skip:
        existsSync(barman) && existsSync('/usr/bin/python3') ? false : 'Debian Barman 3.4 is not installed',
    },
    async () => {
      // Barman's own class writes the archive, as barman-wal-archive sends it to put-wal; a
      // fractional mtime and a non-ASCII name make tarfile add PAX records.
      const script = [
        'import io, sys, time',
        'from barman.clients.walarchive import ChecksumTarFile',
        'out = io.BytesIO()',
        "tar = ChecksumTarFile.open(mode='w|', fileobj=out)",
        "for name, data in [('000000010000000000000001', b'wal' * 1000), ('r\\u00e9pertoire/' + 'x' * 120, b'pax')]:",
        '    info = tar.tarinfo(name)',
        '    info.size = len(data)',
        '    info.mtime = 1764970000.75',
        '    tar.addfile(info, io.BytesIO(data))',
        'tar.close()',
        'sys.stdout.buffer.write(out.getvalue())',
      ].join('\n');
      const python = spawnSync('/usr/bin/python3', ['-c', script], { maxBuffer: 1 << 24 });
      assert.equal(python.status, 0, python.stderr?.toString());
      const members = await membersOf(python.stdout);
      const md5 = (data: string) => createHash('md5').update(data).digest('hex');
      const longPath = `répertoire/${'x'.repeat(120)}`;
      assert.deepEqual(
        members.map(({ name, size, type, body }) => [name, size, type, body]),
        [
          ['000000010000000000000001', 3000, '0', 'wal'.repeat(1000)],
          [longPath, 3, '0', 'pax'],
          [
            'MD5SUMS',
            members[2]!.size,
            '0',
            `${md5('wal'.repeat(1000))} *000000010000000000000001\n${md5('pax')} *${longPath}\n`,
          ],
        ],
      );
    },
  );
});
