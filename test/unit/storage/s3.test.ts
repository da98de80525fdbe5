/**
 * The s3 driver's pure parts: object keys under the prefix, and SDK failures turned into errors
 * an operator can act on. Nothing here talks to S3 (the integration tests do, with s3rver).
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { describeS3Error, S3Storage } from '../../../src/storage/s3/index.js';
import type { S3Settings } from '../../../src/storage/s3/settings.js';

const settings: S3Settings = {
  bucket: 'backups',
  prefix: 'barman/main/wals',
  region: 'us-east-1',
  profile: null,
  endpointUrl: 'http://127.0.0.1:9',
  encryption: null,
  kmsKeyId: null,
  readTimeoutMs: 1000,
  connectTimeoutMs: 1000,
  maxAttempts: 1,
  partSize: 5 * 1024 * 1024,
  partConcurrency: 2,
  deleteBatchSize: 1000,
};

describe('S3Storage', () => {
  const storage = new S3Storage(settings);
  const bare = new S3Storage({ ...settings, prefix: '' });
  after(() => {
    storage.destroy();
    bare.destroy();
  });

  test('keys live under the prefix; the location names the bucket and prefix', () => {
    assert.equal(storage.location, 's3://backups/barman/main/wals');
    assert.equal(
      storage.key('0000000100000000/000000010000000000000001.gz'),
      'barman/main/wals/0000000100000000/000000010000000000000001.gz',
    );
    assert.equal(storage.key('/a/b/'), 'barman/main/wals/a/b');
    assert.equal(storage.key(''), 'barman/main/wals');
    assert.equal(bare.key('a/b'), 'a/b');
    assert.throws(
      () => storage.key('../other/x'),
      /escapes the storage root s3:\/\/backups\/barman\/main\/wals/,
    );
  });

  test('SDK failures become errors saying what failed and why', () => {
    const cases: Array<[unknown, string, RegExp, string | undefined]> = [
      [
        Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
        's3-unreachable',
        /cannot reach http:\/\/127\.0\.0\.1:9 \(ECONNREFUSED\)/,
        undefined,
      ],
      [
        Object.assign(new Error('x'), { name: 'NoSuchBucket' }),
        's3-no-bucket',
        /bucket 'backups' does not exist/,
        undefined,
      ],
      [
        Object.assign(new Error('x'), { name: 'Unknown', $metadata: { httpStatusCode: 403 } }),
        's3-access-denied',
        /access denied \(HTTP 403\)/,
        'check the AWS credentials',
      ],
      [
        Object.assign(new Error('x'), { name: 'InvalidAccessKeyId', $metadata: { httpStatusCode: 403 } }),
        's3-access-denied',
        /access denied \(InvalidAccessKeyId\)/,
        'check the AWS credentials',
      ],
      [
        Object.assign(new Error('Could not load credentials'), { name: 'CredentialsProviderError' }),
        's3-no-credentials',
        /no AWS credentials found/,
        'set AWS_ACCESS_KEY_ID',
      ],
      [
        // The SDK names a reset connection a TimeoutError: the code tells the truth.
        Object.assign(new Error('read ECONNRESET'), {
          name: 'TimeoutError',
          code: 'ECONNRESET',
          $metadata: { attempts: 5 },
        }),
        's3-connection-lost',
        /: the connection to http:\/\/127\.0\.0\.1:9 was cut \(ECONNRESET\) after 5 attempts$/,
        undefined,
      ],
      [
        Object.assign(new Error('the request socket timed out after 2000 ms of inactivity'), {
          name: 'TimeoutError',
        }),
        's3-timeout',
        /: no answer from http:\/\/127\.0\.0\.1:9 within \d+ s \(aws_read_timeout\)$/,
        'check that http://127.0.0.1:9 is reachable',
      ],
      [
        Object.assign(new Error('aborted'), { name: 'AbortError' }),
        's3-timeout',
        /timed out/,
        'check that http://127.0.0.1:9 is reachable',
      ],
      [
        Object.assign(new Error('We encountered an internal error'), {
          name: 'InternalError',
          $metadata: { httpStatusCode: 500 },
        }),
        's3-failed',
        /InternalError \(HTTP 500\): We encountered an internal error/,
        undefined,
      ],
    ];
    for (const [error, code, message, hint] of cases) {
      const described = describeS3Error(error, 'list s3://backups/barman/main/wals/x', storage);
      assert.equal(described.code, code);
      assert.match(described.message, /^cannot list s3:\/\/backups\/barman\/main\/wals\/x: /);
      assert.match(described.message, message);
      if (hint) assert.ok(described.hint?.startsWith(hint), described.hint);
      assert.equal(described.cause, error);
    }
  });
});
