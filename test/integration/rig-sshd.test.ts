// Proves the private sshd of the test rig: key logins between barman and postgres, and rsync
// over ssh in the form Barman uses (ssh_command as rsync's -e, remote path as ':<dir>/').
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  chownTo,
  createDir,
  lookupOsUser,
  makeTempDir,
  runAs,
  startSshd,
  type SshServer,
} from '../harness/index.js';

describe('rig: private sshd', () => {
  let sshd: SshServer;

  before(
    async () => {
      sshd = await startSshd({ users: ['barman', 'postgres'] });
    },
    { timeout: 30_000 },
  );
  after(() => sshd?.stop());

  it('lets barman log in as postgres with its key', { timeout: 30_000 }, async () => {
    const { stdout } = await runAs('barman', 'ssh', [...sshd.sshArgs('barman', 'postgres'), 'id', '-un']);
    assert.equal(stdout.trim(), 'postgres');
  });

  it('lets postgres log in as barman with its key', { timeout: 30_000 }, async () => {
    const { stdout } = await runAs('postgres', 'ssh', [...sshd.sshArgs('postgres', 'barman'), 'id', '-un']);
    assert.equal(stdout.trim(), 'barman');
  });

  it('rsyncs a tree only postgres can read to barman over ssh', { timeout: 60_000 }, async () => {
    const source = await makeTempDir('rsync-source', { owner: 'postgres', mode: 0o700 });
    const files = {
      PG_VERSION: '15\n',
      'base/1/1259': randomBytes(256 * 1024),
      'global/pg_control': randomBytes(8192),
    };
    for (const [path, content] of Object.entries(files)) {
      await writePrivateFile(source, path, content, 'postgres');
    }
    await assert.rejects(runAs('barman', 'ls', [source]), 'barman must only reach the files through ssh');
    const destination = await makeTempDir('rsync-destination', { owner: 'barman' });

    await runAs('barman', 'rsync', [
      '-a',
      '-e',
      sshd.sshCommand('barman', 'postgres'),
      `:${source}/`,
      `${destination}/`,
    ]);

    assert.deepEqual(await listFiles(destination), Object.keys(files).sort());
    const barman = await lookupOsUser('barman');
    for (const [path, content] of Object.entries(files)) {
      const copied = join(destination, path);
      assert.deepEqual(await readFile(copied), Buffer.from(content), `content of ${path}`);
      assert.equal((await stat(copied)).uid, barman.uid, `${path} is owned by the rsync receiver`);
    }
  });
});

/** Writes `root/path` (and its parent dirs) owned by `owner`, readable by nobody else. */
async function writePrivateFile(root: string, path: string, content: string | Buffer, owner: string) {
  const parts = path.split('/');
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = await createDir(join(dir, part), { owner, mode: 0o700 });
  }
  const file = join(root, path);
  await writeFile(file, content, { mode: 0o600 });
  await chownTo(file, owner);
}

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath, entry.name)))
    .sort();
}
