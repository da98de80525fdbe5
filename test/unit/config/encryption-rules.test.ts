/**
 * encryption = gpg is refused where barman-ts would store plaintext: rsync and local-rsync
 * backups, plain-format postgres backups to a directory; a missing encryption_key_id too. Each
 * refusal names file, section and option.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatProblem, loadConfig } from '../../../src/config/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const GLOBAL = '[barman]\nbarman_home = /var/lib/barman\nbarman_user = barman\n';
const TAR = 'backup_method = postgres\nbackup_compression = gzip\nbackup_compression_format = tar\n';
const KEY = 'encryption = gpg\nencryption_key_id = backup@example.invalid\n';

function serverErrors(section: string): string[] {
  const dir = writeConfigFiles({ 'barman.conf': `${GLOBAL}[pg]\nconninfo = host=a\n${section}` });
  const entry = loadConfig({ configFile: join(dir, 'barman.conf') }).servers.get('pg')!;
  return entry.problems.filter((p) => p.severity === 'error').map(formatProblem);
}

describe('encryption = gpg configuration rules', () => {
  it('accepts a postgres-method server with compressed tar backups', () => {
    assert.deepEqual(serverErrors(`${TAR}${KEY}encryption_passphrase_command = cat /etc/x\n`), []);
  });

  it('needs encryption_key_id', () => {
    const [error] = serverErrors(`${TAR}encryption = gpg\n`);
    assert.match(error!, /\[pg\] encryption_key_id: 'encryption = gpg' needs 'encryption_key_id'/);
  });

  for (const method of ['rsync', 'local-rsync']) {
    it(`refuses backup_method = ${method}, naming the file, section and option`, () => {
      const ssh = method === 'rsync' ? 'ssh_command = ssh a\n' : '';
      const errors = serverErrors(`backup_method = ${method}\n${ssh}${KEY}`).join('\n');
      assert.match(errors, /\[pg\] encryption: 'encryption = gpg' cannot be used with 'backup_method = /);
      assert.match(errors, /barman\.conf, line \d+\)/);
    });
  }

  it('refuses a plain-format postgres backup, which would be stored unencrypted', () => {
    const errors = serverErrors(`backup_method = postgres\n${KEY}`).join('\n');
    assert.match(
      errors,
      /backup_compression_format: 'encryption = gpg' with 'backup_method = postgres' needs/,
    );
  });

  it('accepts s3:// locations, whose archives and WAL are encrypted before upload', () => {
    const s3 = 'basebackups_directory = s3://bucket-one/base\nwals_directory = s3://bucket-one/wals\n';
    assert.deepEqual(serverErrors(`backup_method = local-to-cloud\n${s3}${KEY}`), []);
    // postgres to an object store always writes tar archives: no backup_compression_format needed.
    assert.deepEqual(serverErrors(`backup_method = postgres\n${s3}${KEY}`), []);
  });

  it('encryption = none needs nothing', () => {
    assert.deepEqual(serverErrors('backup_method = postgres\nencryption = none\n'), []);
  });
});
