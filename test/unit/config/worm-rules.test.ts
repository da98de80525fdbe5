/**
 * worm_mode's configuration: accepted where everything that changes lives outside the
 * write-once directories; otherwise the server is disabled naming file, section and option.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ServerEntry } from '../../../src/config/index.js';
import { formatProblem, loadConfig } from '../../../src/config/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const GLOBAL = '[barman]\nbarman_home = /var/lib/barman\nbarman_user = barman\n';
const SERVER = '[pg]\nconninfo = host=a\nssh_command = ssh a\narchiver = on\n';

function server(text: string): ServerEntry {
  const dir = writeConfigFiles({ 'barman.conf': text });
  return loadConfig({ configFile: join(dir, 'barman.conf') }).servers.get('pg')!;
}

const errors = (entry: ServerEntry) =>
  entry.problems
    .filter((p) => p.severity === 'error')
    .map(formatProblem)
    .join('\n');

describe('worm_mode configuration', () => {
  it('is accepted with xlogdb_directory on regular storage', () => {
    const pg = server(`${GLOBAL}worm_mode = on\nxlogdb_directory = /var/lib/barman/xlogdb\n${SERVER}`);
    assert.deepEqual(pg.problems, []);
    assert.equal(pg.disabled, false);
    assert.equal(pg.config.worm_mode, true);
  });

  it('without xlogdb_directory: disabled, naming the option and the fix', () => {
    const pg = server(`${GLOBAL}${SERVER}worm_mode = on\n`);
    assert.equal(pg.disabled, true);
    assert.match(
      errors(pg),
      /\[pg\] worm_mode: with 'worm_mode = on', the WAL index .*set 'xlogdb_directory'/,
    );
    assert.match(errors(pg), /barman\.conf, line 8\)/);
  });

  it('xlogdb_directory inside wals_directory is refused', () => {
    const pg = server(
      `${GLOBAL}${SERVER}worm_mode = on\nwals_directory = /worm/wals\nxlogdb_directory = /worm/wals/db\n`,
    );
    assert.equal(pg.disabled, true);
    assert.match(errors(pg), /\[pg\] xlogdb_directory: .*must not be inside wals_directory \(\/worm\/wals\)/);
  });

  it('backup_directory (meta/) inside basebackups_directory is refused', () => {
    const pg = server(
      `${GLOBAL}${SERVER}worm_mode = on\nxlogdb_directory = /db\nbasebackups_directory = /worm\nbackup_directory = /worm/pg\n`,
    );
    assert.equal(pg.disabled, true);
    assert.match(errors(pg), /\[pg\] backup_directory: .*meta\/.*must not be inside basebackups_directory/);
  });

  it('an s3:// location needs worm_object_lock_retention; reuse_backup = link is refused', () => {
    const pg = server(
      `${GLOBAL}${SERVER}worm_mode = on\nxlogdb_directory = /db\nwals_directory = s3://bucket/wals\nreuse_backup = link\n`,
    );
    assert.equal(pg.disabled, true);
    assert.match(
      errors(pg),
      /\[pg\] worm_mode: .*wals_directory is an s3:\/\/ location.*set 'worm_object_lock_retention'/,
    );
    assert.match(errors(pg), /\[pg\] reuse_backup: .*'reuse_backup = link' would hard-link/);
  });

  it('s3:// locations with worm_object_lock_retention are accepted without xlogdb_directory (no WAL index), compliance by default', () => {
    const pg = server(
      `${GLOBAL}${SERVER}worm_mode = on\nwals_directory = s3://bucket/wals\n` +
        'basebackups_directory = s3://bucket/base\nbackup_method = postgres\nworm_object_lock_retention = 30 days\n',
    );
    assert.deepEqual(pg.problems, []);
    assert.equal(pg.config.worm_object_lock_retention, 30 * 86_400);
    assert.equal(pg.config.worm_object_lock_mode, 'compliance');
  });

  it('worm_object_lock_retention where it cannot act is refused, naming the option', () => {
    const posix = server(
      `${GLOBAL}${SERVER}worm_mode = on\nxlogdb_directory = /db\nworm_object_lock_retention = 1 day\n`,
    );
    assert.match(
      errors(posix),
      /\[pg\] worm_object_lock_retention: .*applies only to an s3:\/\/ basebackups_directory/,
    );
    const off = server(
      `${GLOBAL}${SERVER}wals_directory = s3://bucket/wals\nworm_object_lock_retention = 1 day\n`,
    );
    assert.match(errors(off), /\[pg\] worm_object_lock_retention: .*applies only with 'worm_mode = on'/);
    const bad = server(
      `${GLOBAL}${SERVER}worm_mode = on\nxlogdb_directory = /db\nwals_directory = s3://b/w\nworm_object_lock_retention = forever\n`,
    );
    assert.match(errors(bad), /worm_object_lock_retention/);
  });

  it('worm_mode = off changes nothing', () => {
    const pg = server(`${GLOBAL}${SERVER}worm_mode = off\nreuse_backup = link\n`);
    assert.equal(pg.disabled, false);
    assert.equal(pg.config.worm_mode, false);
  });
});
