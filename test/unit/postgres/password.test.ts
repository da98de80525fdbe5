/**
 * libpq's password sources for barman-ts's own connections (conninfo `password`, PGPASSWORD,
 * the password file from `passfile`, PGPASSFILE or ~/.pgpass, matched as libpq matches it),
 * and the connection handed to pg_basebackup / pg_receivewal without the password in it.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parseConnInfo } from '../../../src/postgres/conninfo.js';
import {
  findPasswordInFile,
  passwordFilePath,
  passwordTarget,
  programConnection,
  resolvePassword,
} from '../../../src/postgres/password.js';

const dir = mkdtempSync(join(tmpdir(), 'barman-ts-password-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function passwordFile(name: string, text: string, mode = 0o600): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

const target = { host: 'db.example', port: '5432', database: 'postgres', user: 'barman' };

test('a password file line: first match wins, * matches a whole field, \\: and \\\\ are literal', () => {
  const text = [
    '# a comment: db.example:5432:postgres:barman:commented',
    'other:5432:*:barman:not-this-host',
    'db.example:5433:*:barman:not-this-port',
    'db.example:*:post*:barman:a-star-is-not-a-prefix',
    'db.example:*:*:barman:pass\\:with\\\\escapes',
    '*:*:*:*:too-late',
  ].join('\n');
  assert.equal(findPasswordInFile(text, target), 'pass:with\\escapes');
  assert.equal(findPasswordInFile('db.example:5432:postgres:barman:plain\r\n', target), 'plain');
  assert.equal(findPasswordInFile('db.example:5432:postgres:barman', target), undefined, 'four fields');
  assert.equal(findPasswordInFile('\\*:5432:postgres:barman:x', target), undefined, '\\* is a literal star');
  assert.equal(findPasswordInFile('db.example:5432:postgres:barman:a:b', target), 'a', 'ends at a colon');
  assert.equal(
    findPasswordInFile('h\\:6:5432:postgres:barman:ipv6-ish', { ...target, host: 'h:6' }),
    'ipv6-ish',
  );
});

test('the key of a connection: libpq defaults for host, port, database and user', () => {
  const env = {};
  assert.deepEqual(passwordTarget(parseConnInfo('host=db port=6543 user=u dbname=d'), { env }), {
    host: 'db',
    port: '6543',
    database: 'd',
    user: 'u',
  });
  const socket = passwordTarget(parseConnInfo('host=/var/run/postgresql user=u'), { env });
  assert.deepEqual(socket, { host: 'localhost', port: '5432', database: 'u', user: 'u' });
  assert.equal(passwordTarget(parseConnInfo('user=u'), { env }).host, 'localhost');
  assert.equal(passwordTarget(parseConnInfo('host=/tmp user=u'), { env }).host, '/tmp');
  assert.equal(passwordTarget(parseConnInfo('hostaddr=10.0.0.1 user=u'), { env }).host, '10.0.0.1');
  assert.equal(passwordTarget(parseConnInfo('host=db hostaddr=10.0.0.1 user=u'), { env }).host, 'db');
  assert.equal(
    passwordTarget(parseConnInfo('host=db user=u dbname=d'), { env, replication: true }).database,
    'replication',
  );
  const fromEnv = passwordTarget(parseConnInfo(''), {
    env: { PGHOST: 'h', PGPORT: '7', PGUSER: 'eu', PGDATABASE: 'ed' },
  });
  assert.deepEqual(fromEnv, { host: 'h', port: '7', database: 'ed', user: 'eu' });
});

test('the password file: passfile in the conninfo, then PGPASSFILE, then ~/.pgpass', () => {
  assert.equal(passwordFilePath(parseConnInfo('passfile=/a'), { PGPASSFILE: '/b', HOME: '/h' }), '/a');
  assert.equal(passwordFilePath(parseConnInfo(''), { PGPASSFILE: '/b', HOME: '/h' }), '/b');
  assert.equal(passwordFilePath(parseConnInfo(''), { HOME: '/h' }), '/h/.pgpass');
});

test('precedence: conninfo password, PGPASSWORD, then the password file', async () => {
  const file = passwordFile('.pgpass', 'db:5432:postgres:barman:from-file\n');
  const info = (extra: string) =>
    parseConnInfo(`host=db user=barman dbname=postgres passfile=${file} ${extra}`);
  assert.equal(await resolvePassword(info('password=inline'), { env: { PGPASSWORD: 'env' } }), 'inline');
  assert.equal(await resolvePassword(info(''), { env: { PGPASSWORD: 'env' } }), 'env');
  assert.equal(await resolvePassword(info(''), { env: {} }), 'from-file');
  assert.equal(await resolvePassword(info(''), { env: { PGPASSWORD: '' } }), 'from-file');
  const viaEnv = parseConnInfo('host=db user=barman dbname=postgres');
  assert.equal(await resolvePassword(viaEnv, { env: { PGPASSFILE: file } }), 'from-file');
  assert.equal(await resolvePassword(viaEnv, { env: { HOME: dir } }), 'from-file');
});

test('refusals name the file and the reason, never a password', async () => {
  const info = (file: string) => parseConnInfo(`host=db user=barman dbname=postgres passfile=${file}`);
  const open = passwordFile('open', 'db:5432:postgres:barman:secret-value\n', 0o640);
  await assert.rejects(resolvePassword(info(open), { env: {} }), (error: Error) => {
    assert.match(error.message, /^no password supplied: password file ".*\/open" has group or world access/);
    assert.ok(!error.message.includes('secret-value'));
    return true;
  });
  await assert.rejects(
    resolvePassword(info(join(dir, 'missing')), { env: {} }),
    /no password file ".*missing"/,
  );
  await assert.rejects(resolvePassword(info(dir), { env: {} }), /is not a plain file/);
  const other = passwordFile('other', 'elsewhere:5432:postgres:barman:secret-value\n');
  await assert.rejects(
    resolvePassword(info(other), { env: {} }),
    /no line of password file ".*other" matches db:5432:postgres:barman/,
  );
});

test('pg_basebackup and pg_receivewal get the password in PGPASSWORD, never in the connection string', () => {
  const inline = programConnection("host=pg user=u password='se cret' passfile=/p", {
    application_name: 'x',
  });
  assert.equal(inline.conninfo, 'host=pg user=u passfile=/p application_name=x');
  assert.equal(inline.env.PGPASSWORD, 'se cret');
  const uri = programConnection('postgresql://u:s%40cret@pg:5433/db');
  assert.equal(uri.conninfo, 'host=pg port=5433 user=u dbname=db');
  assert.equal(uri.env.PGPASSWORD, 's@cret');
  const none = programConnection('host=pg user=u');
  assert.equal(none.env, process.env, 'no password: the environment as it is (PGPASSWORD, PGPASSFILE)');
});
