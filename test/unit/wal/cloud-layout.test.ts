/** Object names of the cloud WAL archive (barman-cloud-wal-archive's layout), both ways. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cloudWalPath, missingSegments, parseCloudWalPath } from '../../../src/wal/cloud-layout.js';
import { parseSpooledName, sealedName } from '../../../src/wal/sealed-wal.js';

describe('cloud WAL layout', () => {
  test('segments go under their timeline+log directory with the compression extension', () => {
    assert.equal(
      cloudWalPath('000000010000000A000000FE', 'gzip'),
      '000000010000000A/000000010000000A000000FE.gz',
    );
    assert.equal(cloudWalPath('000000010000000A000000FE', null), '000000010000000A/000000010000000A000000FE');
    assert.equal(
      cloudWalPath('000000020000000000000003', 'zstd'),
      '0000000200000000/000000020000000000000003.zst',
    );
    assert.equal(
      cloudWalPath('000000010000000000000002.00000028.backup', 'bzip2'),
      '0000000100000000/000000010000000000000002.00000028.backup.bz2',
    );
  });

  test('history files live in wals/ itself', () => {
    assert.equal(cloudWalPath('00000002.history', 'snappy'), '00000002.history.snappy');
    assert.equal(cloudWalPath('00000002.history', 'lz4'), '00000002.history.lz4');
  });

  test('object paths parse back into the WAL name and its compression', () => {
    for (const compression of ['gzip', 'bzip2', 'xz', 'zstd', 'lz4', 'snappy', null] as const) {
      for (const name of [
        '000000010000000A000000FE',
        '00000003.history',
        '000000010000000000000002.partial',
      ]) {
        assert.deepEqual(parseCloudWalPath(cloudWalPath(name, compression)), {
          name,
          compression,
          encrypted: false,
        });
        // encryption = gpg: the compression's extension, then `.gpg`.
        const sealed = cloudWalPath(name, compression, true);
        assert.ok(sealed.endsWith('.gpg'), sealed);
        assert.deepEqual(parseCloudWalPath(sealed), { name, compression, encrypted: true });
      }
    }
  });

  test('sealed spool names: `<name><ext>.gpg`, as the object; plain names as they are', () => {
    assert.equal(sealedName('000000010000000A000000FE', 'gzip'), '000000010000000A000000FE.gz.gpg');
    assert.deepEqual(parseSpooledName('000000010000000A000000FE.gz.gpg'), {
      name: '000000010000000A000000FE',
      sealed: true,
      compression: 'gzip',
    });
    assert.deepEqual(parseSpooledName('00000003.history.gpg'), {
      name: '00000003.history',
      sealed: true,
      compression: null,
    });
    assert.deepEqual(parseSpooledName('000000010000000A000000FE'), {
      name: '000000010000000A000000FE',
      sealed: false,
    });
    assert.equal(parseSpooledName('000000010000000A000000FE.gz'), null);
    assert.equal(parseSpooledName('.000000010000000A000000FE.123-ab.tmp'), null);
  });

  test('strangers are not WAL files: wrong directory, unknown names, lower-case hex', () => {
    assert.equal(parseCloudWalPath('0000000100000001/000000010000000A000000FE.gz'), null);
    assert.equal(parseCloudWalPath('000000010000000A000000FE.gz'), null);
    assert.equal(parseCloudWalPath('000000010000000A/backup.info'), null);
    assert.equal(parseCloudWalPath('000000010000000a/000000010000000a000000fe'), null);
    assert.equal(parseCloudWalPath('0000000100000000/00000002.history'), null);
  });
});

describe('missingSegments', () => {
  const MiB16 = 16 * 1024 * 1024;
  test('a continuous archive has no holes, across a log boundary too', () => {
    assert.deepEqual(
      missingSegments(
        ['0000000100000000000000FE', '0000000100000000000000FF', '000000010000000100000000'],
        MiB16,
      ),
      [],
    );
    assert.deepEqual(missingSegments([], MiB16), []);
  });

  test('holes are listed per timeline; other files are ignored', () => {
    assert.deepEqual(
      missingSegments(
        [
          '000000010000000000000001',
          '000000010000000000000004',
          '00000002.history',
          '000000010000000000000002.00000028.backup',
          '000000020000000000000004',
          '000000020000000000000006',
        ],
        MiB16,
      ),
      ['000000010000000000000002', '000000010000000000000003', '000000020000000000000005'],
    );
  });

  test('segment size decides where a log ends', () => {
    const GiB = 1024 * 1024 * 1024;
    assert.deepEqual(missingSegments(['000000010000000000000003', '000000010000000100000000'], GiB), []);
  });
});
