import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatProblem, loadConfig } from '../../../src/config/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const GLOBAL = '[barman]\nbarman_home = /srv/barman\nbarman_user = barman\n';
const server = (name: string, extra = '') =>
  `[${name}]\nconninfo = host=pg\nbackup_method = postgres\narchiver = on\n${extra}\n`;

function load(files: Record<string, string>) {
  const dir = writeConfigFiles(files);
  return { dir, config: loadConfig({ configFile: join(dir, 'barman.conf') }) };
}

function errorsOf(text: string, name: string): string[] {
  const entry = load({ 'barman.conf': GLOBAL + text }).config.servers.get(name)!;
  return entry.problems.filter((problem) => problem.severity === 'error').map(formatProblem);
}

describe('conflicting paths across servers', () => {
  it('disables both servers sharing a directory, naming both, the option, the path and where it was set', () => {
    const { dir, config } = load({
      'barman.conf': `${GLOBAL}configuration_files_directory = @DIR@/conf.d\n${server('alpha', 'wals_directory = /srv/shared')}`,
      'conf.d/beta.conf': server('beta', 'incoming_wals_directory = /srv/shared/'),
      'conf.d/gamma.conf': server('gamma'),
    });
    const problems = (name: string) => config.servers.get(name)!.problems.map(formatProblem);
    assert.equal(config.servers.get('alpha')!.disabled, true);
    assert.equal(config.servers.get('beta')!.disabled, true);
    assert.equal(config.servers.get('gamma')!.disabled, false);
    assert.deepEqual(problems('beta'), [
      `[beta] incoming_wals_directory: Conflicting path: incoming_wals_directory=/srv/shared for server 'beta' conflicts with 'wals_directory' for server 'alpha' (${dir}/conf.d/beta.conf, line 5)`,
    ]);
    assert.deepEqual(problems('alpha'), [
      `[alpha] wals_directory: Conflicting path: wals_directory=/srv/shared for server 'alpha' conflicts with 'incoming_wals_directory' for server 'beta' (${dir}/barman.conf, line 9)`,
    ]);
  });

  it('a directory inside another server’s is a conflict, unless the outer one is a backup_directory', () => {
    const [beta] = errorsOf(
      server('alpha') + server('beta', 'errors_directory = /srv/barman/alpha/wals/../base/x'),
      'beta',
    );
    assert.match(
      beta!,
      /errors_directory=\/srv\/barman\/alpha\/wals\/\.\.\/base\/x \(symlink to: \/srv\/barman\/alpha\/base\/x\) for server 'beta' is inside 'basebackups_directory' \(\/srv\/barman\/alpha\/base\) of server 'alpha'/,
    );
    const [alpha] = errorsOf(
      server('alpha') + server('beta', 'errors_directory = /srv/barman/alpha/base/x'),
      'alpha',
    );
    assert.match(
      alpha!,
      /basebackups_directory=\/srv\/barman\/alpha\/base for server 'alpha' contains 'errors_directory' \(\/srv\/barman\/alpha\/base\/x\) of server 'beta'/,
    );
    // Beside the other server's own directories: allowed (as the defaults put every server in barman_home).
    assert.deepEqual(
      errorsOf(server('alpha') + server('beta', 'backup_directory = /srv/barman/alpha/beta'), 'beta'),
      [],
    );
    assert.deepEqual(
      errorsOf(server('alpha', 'backup_directory = /srv/barman') + server('beta'), 'alpha'),
      [],
    );
    // A name that only starts like another path is not inside it.
    assert.deepEqual(
      errorsOf(server('alpha') + server('beta', 'wals_directory = /srv/barman/alpha/wals2'), 'beta'),
      [],
    );
  });

  it('s3:// locations conflict by bucket and prefix, whatever the endpoint', () => {
    const cloud = (name: string, base: string, wals: string, extra = '') =>
      server(
        name,
        `backup_method = local-to-cloud\nbasebackups_directory = ${base}\nwals_directory = ${wals}\n${extra}`,
      ).replace('backup_method = postgres\n', '');
    const text =
      cloud('alpha', 's3://bkt/p/alpha/base', 's3://bkt/p/alpha/wals') +
      cloud('beta', 's3://bkt/p/beta/base', 's3://bkt/p/alpha/wals', 'aws_endpoint_url = http://proxy:9000') +
      cloud('gamma', 's3://cbk/p/alpha/base', 's3://cbk/p/alpha/wals') +
      cloud('delta', 's3://bkt/p/delta/base', 's3://bkt/p/delta/walsx');
    const { config } = load({ 'barman.conf': GLOBAL + text });
    assert.deepEqual(
      [...config.servers.values()].filter((entry) => entry.disabled).map((entry) => entry.name),
      ['alpha', 'beta'],
    );
    assert.match(
      config.servers.get('beta')!.problems.map(formatProblem).join('\n'),
      /Conflicting path: wals_directory=s3:\/\/bkt\/p\/alpha\/wals for server 'beta' conflicts with 'wals_directory' for server 'alpha'/,
    );
    // A bucket-wide location contains every prefix of that bucket.
    const whole =
      cloud('alpha', 's3://bkt/alpha/base', 's3://bkt/alpha/wals') +
      cloud('beta', 's3://bk2/base', 's3://bkt');
    assert.match(
      errorsOf(whole, 'beta').join('\n'),
      /wals_directory=s3:\/\/bkt for server 'beta' contains 'basebackups_directory' \(s3:\/\/bkt\/alpha\/base\) of server 'alpha'/,
    );
  });
});
