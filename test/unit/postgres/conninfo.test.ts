import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatConnInfo, parseConnInfo } from '../../../src/postgres/index.js';

test('parses libpq key=value strings with quoting and escapes', () => {
  const info = parseConnInfo(
    `host=pg.example.com port=5432 user=barman password='a b\\'c\\\\d' dbname = postgres options='-c x=1'`,
  );
  assert.deepEqual(Object.fromEntries(info), {
    host: 'pg.example.com',
    port: '5432',
    user: 'barman',
    password: "a b'c\\d",
    dbname: 'postgres',
    options: '-c x=1',
  });
  assert.deepEqual(parseConnInfo(formatConnInfo(info)), info);
});

test('parses postgresql:// URIs', () => {
  const info = parseConnInfo('postgresql://barman:s%40cret@db:6432/app?sslmode=require&application_name=x');
  assert.deepEqual(Object.fromEntries(info), {
    host: 'db',
    port: '6432',
    user: 'barman',
    password: 's@cret',
    dbname: 'app',
    sslmode: 'require',
    application_name: 'x',
  });
});

test('rejects malformed strings with a clear message', () => {
  assert.throws(() => parseConnInfo('host=a junk'), /invalid connection string near 'junk'/);
  assert.throws(() => parseConnInfo("password='open"), /unterminated quoted value for 'password'/);
});
