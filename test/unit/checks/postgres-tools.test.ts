/** Finding and judging pg_basebackup / pg_receivewal versions the way Barman does. */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  compareVersions,
  findPgTool,
  majorOf,
  parseToolVersion,
  toolCompatible,
  toolSearchPath,
} from '../../../src/process/postgres-tools.js';

test('parses --version output, ignoring parenthesised parts', () => {
  assert.deepEqual(parseToolVersion('pg_basebackup (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n'), {
    full: '15.18',
    major: '15',
  });
  assert.deepEqual(parseToolVersion('pg_receivexlog (PostgreSQL) 9.6.24'), { full: '9.6.24', major: '9.6' });
  assert.deepEqual(parseToolVersion('pg_basebackup (PostgreSQL) 17devel'), { full: '17devel', major: '17' });
  assert.deepEqual(parseToolVersion('pg_basebackup (PostgreSQL) 16beta2'), { full: '16beta2', major: '16' });
  assert.equal(parseToolVersion('Error: pg_wrapper: pg_basebackup was not found'), null);
  assert.equal(parseToolVersion(''), null);
});

test('major versions and their order', () => {
  assert.equal(majorOf('15.18'), '15');
  assert.equal(majorOf('9.6.24'), '9.6');
  assert.equal(majorOf('15'), '15');
  assert.ok(compareVersions('9.6', '10') < 0);
  assert.ok(compareVersions('15', '9.6') > 0);
  assert.equal(compareVersions('15', '15'), 0);
  assert.ok(compareVersions('9.4', '9.3') > 0);
});

test('a client program works with its own major version and older servers', () => {
  assert.equal(toolCompatible('15', '15'), true);
  assert.equal(toolCompatible('15', '17'), true);
  assert.equal(toolCompatible('9.6', '15'), true);
  assert.equal(toolCompatible('17', '15'), false);
  assert.equal(toolCompatible('9.2', '9.2'), true);
  assert.equal(toolCompatible('9.2', '15'), false);
});

test('search path: path_prefix first, then PATH', () => {
  assert.equal(toolSearchPath('/opt/pg/bin', '/usr/bin:/bin'), '/opt/pg/bin:/usr/bin:/bin');
  assert.equal(toolSearchPath(null, '/usr/bin'), '/usr/bin');
});

test('finds the first program that runs, skipping shims that fail and non-executables', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'barman-ts-pgtools-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const [shim, plain, real] = ['shim', 'plain', 'real'].map((name) => join(dir, name));
  for (const sub of [shim!, plain!, real!]) mkdirSync(sub);
  const script = (path: string, body: string) => {
    writeFileSync(path, `#!/bin/sh\n${body}\n`);
    chmodSync(path, 0o755);
  };
  script(join(shim!, 'pg_receivewal'), 'echo "Error: pg_wrapper: not found" >&2; exit 1');
  writeFileSync(join(plain!, 'pg_receivewal'), 'not executable');
  script(join(real!, 'pg_receivexlog'), 'echo "pg_receivexlog (PostgreSQL) 9.6.24"');
  const found = await findPgTool(['pg_receivewal', 'pg_receivexlog'], [shim, plain, real].join(':'));
  assert.deepEqual(found, {
    path: join(real!, 'pg_receivexlog'),
    fullVersion: '9.6.24',
    majorVersion: '9.6',
  });
  assert.equal(await findPgTool(['pg_basebackup'], [shim, plain].join(':')), null);
});

test('asks a program its --version once a process, again once the file is replaced', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'barman-ts-pgtools-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const runs = join(dir, 'runs');
  const program = join(dir, 'pg_basebackup');
  const install = (version: string) => {
    writeFileSync(
      program,
      `#!/bin/sh\necho run >> '${runs}'\necho "pg_basebackup (PostgreSQL) ${version}"\n`,
    );
    chmodSync(program, 0o755);
  };
  const runCount = () => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;
  install('16.4');
  assert.equal((await findPgTool(['pg_basebackup'], dir))?.fullVersion, '16.4');
  assert.equal((await findPgTool(['pg_basebackup'], dir))?.fullVersion, '16.4');
  assert.equal(runCount(), 1);
  // An upgrade in between (another file, another size): asked again.
  install('17.10');
  assert.equal((await findPgTool(['pg_basebackup'], dir))?.fullVersion, '17.10');
  assert.equal(runCount(), 2);
});
