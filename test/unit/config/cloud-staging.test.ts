import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cloudStagingOf, formatProblem, loadConfig, optionFlagsFor } from '../../../src/config/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const GLOBAL = '[barman]\nbarman_home = /srv/barman\nbarman_user = barman\n';
const local = (name: string, extra = '') =>
  `[${name}]\nconninfo = host=pg\nbackup_method = postgres\narchiver = on\n${extra}\n`;
const cloud = (name: string, extra = '') =>
  `[${name}]\nconninfo = host=pg\nbackup_method = local-to-cloud\narchiver = on\n` +
  `basebackups_directory = s3://bkt/${name}/base\nwals_directory = s3://bkt/${name}/wals\n${extra}\n`;

function load(text: string) {
  const dir = writeConfigFiles({ 'barman.conf': GLOBAL + text });
  return { dir, config: loadConfig({ configFile: join(dir, 'barman.conf') }) };
}

function problemsOf(text: string, name: string, severity: 'error' | 'warning'): string[] {
  const entry = load(text).config.servers.get(name)!;
  return entry.problems.filter((problem) => problem.severity === severity).map(formatProblem);
}

describe('cloud staging options', () => {
  it("default to the server's private cloud-staging directory and Barman's 30G", () => {
    const entry = load(cloud('pg')).config.servers.get('pg')!;
    assert.equal(entry.config.cloud_staging_directory, '/srv/barman/pg/cloud-staging');
    assert.equal(entry.config.cloud_staging_max_size, 30e9);
  });

  it('are overridden for one backup by --cloud-staging-directory and --cloud-staging-max-size', () => {
    const flags = optionFlagsFor('backup').map(({ option, flag }) => [option.key, flag.flags]);
    assert.deepEqual(
      flags.filter(([key]) => key!.startsWith('cloud_staging')),
      [
        ['cloud_staging_directory', '--cloud-staging-directory <dir>'],
        ['cloud_staging_max_size', '--cloud-staging-max-size <size>'],
      ],
    );
  });

  it('apply to local-to-cloud only when asked (in a file or on the command line), always to postgres to s3://', () => {
    const { config } = load(
      cloud('quiet') +
        cloud('asked', 'cloud_staging_max_size = 2G') +
        local('stream', 'basebackups_directory = s3://bkt/stream/base'),
    );
    const of = (name: string, overrides = {}) => {
      const entry = config.servers.get(name)!;
      return cloudStagingOf(entry.config, entry.sources, overrides);
    };
    assert.equal(of('quiet'), null);
    assert.deepEqual(of('quiet', { cloud_staging_directory: '/fast/disk' }), {
      directory: '/srv/barman/quiet/cloud-staging',
      maxBytes: 30e9,
    });
    assert.deepEqual(of('asked'), { directory: '/srv/barman/asked/cloud-staging', maxBytes: 2e9 });
    assert.deepEqual(of('stream'), { directory: '/srv/barman/stream/cloud-staging', maxBytes: 30e9 });
    const local_ = load(local('pg', 'cloud_staging_max_size = 2G')).config.servers.get('pg')!;
    assert.equal(cloudStagingOf(local_.config, local_.sources), null);
  });

  it('refuse a limit smaller than one upload part, naming file, section and option', () => {
    const [error] = problemsOf(cloud('pg', 'cloud_staging_max_size = 4MiB'), 'pg', 'error');
    assert.match(
      error!,
      /^\[pg\] cloud_staging_max_size: the cloud staging limit \(cloud_staging_max_size, or --cloud-staging-max-size\) of 4\.0 MiB is smaller than one upload part \(5\.0 MiB, .*\(.*barman\.conf, line 10\)$/,
    );
    // The part is cloud_upload_min_chunk_size when larger than S3's 5 MiB.
    assert.equal(
      problemsOf(
        cloud('pg', 'cloud_staging_max_size = 8MiB\ncloud_upload_min_chunk_size = 16MiB'),
        'pg',
        'error',
      ).length,
      1,
    );
    assert.deepEqual(problemsOf(cloud('pg', 'cloud_staging_max_size = 5MiB'), 'pg', 'error'), []);
  });

  it('set for a server with a local basebackups_directory: a warning that they have no effect', () => {
    const warnings = problemsOf(local('pg', 'cloud_staging_directory = /fast/staging'), 'pg', 'warning');
    assert.deepEqual(
      warnings.filter((text) => text.includes('cloud_staging')).map((text) => text.replace(/ \(\/.*\)$/, '')),
      [
        "[pg] cloud_staging_directory: has no effect: only backups to an s3:// 'basebackups_directory' stage their uploads (this server's is local)",
      ],
    );
    assert.match(
      warnings.find((text) => text.includes('cloud_staging'))!,
      /barman\.conf, line 8\)$/,
    );
    // Inherited from [barman], where it serves the servers that stage: no warning.
    assert.deepEqual(
      problemsOf(`cloud_staging_max_size = 2G\n${local('pg')}`, 'pg', 'warning').filter((text) =>
        text.includes('cloud_staging'),
      ),
      [],
    );
  });

  it('a staging directory that is, or is inside, a catalogue directory is a conflicting path; sharing one is fine', () => {
    const [own] = problemsOf(
      cloud('pg', 'cloud_staging_directory = /srv/barman/pg/incoming/x'),
      'pg',
      'error',
    );
    assert.match(
      own!,
      /Conflicting path: cloud_staging_directory=\/srv\/barman\/pg\/incoming\/x for server 'pg' is inside 'incoming_wals_directory' \(\/srv\/barman\/pg\/incoming\) of server 'pg': its staged upload parts would be taken for catalogue files/,
    );
    const text = cloud('a', 'cloud_staging_directory = /srv/barman/b/wals') + local('b');
    assert.match(
      problemsOf(text, 'a', 'error')[0]!,
      /is 'wals_directory' \(\/srv\/barman\/b\/wals\) of server 'b'/,
    );
    assert.match(
      problemsOf(text, 'b', 'error')[0]!,
      /wals_directory=\/srv\/barman\/b\/wals for server 'b' holds 'cloud_staging_directory' \(\/srv\/barman\/b\/wals\) of server 'a'/,
    );
    const shared = `cloud_staging_directory = /var/tmp/staging\n${cloud('a')}${cloud('b')}`;
    assert.deepEqual(problemsOf(shared, 'a', 'error'), []);
    assert.deepEqual(problemsOf(shared, 'b', 'error'), []);
  });
});
