/**
 * The building blocks of "everything barman-ts writes is private to barman_user": the tree
 * tightening for programs that choose their own modes, the streaming-directory watcher, the
 * backup copy that drops group/other bits without touching the previous backup it links from,
 * and the check's notion of a directory other users can reach.
 */
import assert from 'node:assert/strict';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { openDirectories } from '../../../src/commands/shared/checks/permissions.js';
import { copyTree } from '../../../src/transfer/copy-tree.js';
import { keepNewFilesPrivate, makeTreePrivate } from '../../../src/storage/durable-files.js';

const root = mkdtempSync(join(tmpdir(), 'barman-ts-private-'));
chmodSync(root, 0o755); // not a private parent of what openDirectories looks at
after(() => rmSync(root, { recursive: true, force: true }));
const modeOf = (path: string) => lstatSync(path).mode & 0o7777;

/** A directory with mode `mode` (explicit: the umask filters mkdir's). */
function directory(path: string, mode: number): string {
  mkdirSync(path, { recursive: true });
  chmodSync(path, mode);
  return path;
}

function file(path: string, mode: number, content = 'row'): string {
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

test('makeTreePrivate drops group and other bits below a root, keeping the owner bits', async () => {
  const tree = directory(join(root, 'tree'), 0o755);
  directory(join(tree, 'base'), 0o750);
  file(join(tree, 'base', 'table'), 0o640);
  file(join(tree, 'server.key'), 0o444);
  symlinkSync('/etc', join(tree, 'link'));
  await makeTreePrivate(tree);
  assert.equal(modeOf(tree), 0o700);
  assert.equal(modeOf(join(tree, 'base')), 0o700);
  assert.equal(modeOf(join(tree, 'base', 'table')), 0o600);
  assert.equal(modeOf(join(tree, 'server.key')), 0o400);
  assert.equal(modeOf('/etc') & 0o055, 0o055, 'a link is not followed');
});

test('keepNewFilesPrivate tightens what is there and every file that appears', async () => {
  const streaming = directory(join(root, 'streaming'), 0o700);
  file(join(streaming, 'old'), 0o644);
  const watcher = await keepNewFilesPrivate(streaming);
  assert.equal(modeOf(join(streaming, 'old')), 0o600);
  file(join(streaming, '000000010000000000000001.partial'), 0o640);
  for (let waited = 0; modeOf(join(streaming, '000000010000000000000001.partial')) !== 0o600; waited += 10) {
    assert.ok(waited < 5000, 'the new file became private');
    await sleep(10);
  }
  await watcher.stop();
  // After stop, nothing is watched any more (the last sweep ran at stop).
  file(join(streaming, 'later'), 0o640);
  await sleep(100);
  assert.equal(modeOf(join(streaming, 'later')), 0o640);
});

test('copyTree with privateModes: private copies; an open file of the previous backup is copied, not linked', async () => {
  const source = directory(join(root, 'pgdata'), 0o750);
  directory(join(source, 'base'), 0o750);
  file(join(source, 'base', 'table'), 0o640);
  const previous = directory(join(root, 'previous'), 0o755);
  directory(join(previous, 'base'), 0o755);
  file(join(previous, 'base', 'table'), 0o644);
  // Same size and mtime: reusable.
  const { utimesSync } = await import('node:fs');
  for (const path of [join(source, 'base', 'table'), join(previous, 'base', 'table')])
    utimesSync(path, 1_700_000_000, 1_700_000_000);
  const target = join(root, 'backup');
  const stats = await copyTree(source, target, {
    exclude: () => 'copy',
    reuseFrom: previous,
    reuse: 'link',
    jobs: 1,
    privateModes: true,
  });
  assert.equal(stats.linked, 0, 'not linked: the link would share the 0644 mode');
  assert.equal(stats.reused, 1);
  assert.equal(modeOf(join(target, 'base')), 0o700);
  assert.equal(modeOf(join(target, 'base', 'table')), 0o600);
  assert.equal(modeOf(join(previous, 'base', 'table')), 0o644, 'the stored backup is never changed');

  // Without privateModes (recovery), the modes are the source's.
  const restored = join(root, 'restored');
  await copyTree(source, restored, { exclude: () => 'copy', jobs: 1 });
  assert.equal(modeOf(join(restored, 'base', 'table')), 0o640);
});

test('openDirectories: reachable directories only, one private parent hides all below it', async () => {
  const home = directory(join(root, 'home'), 0o755);
  const server = directory(join(home, 'pg'), 0o755);
  const wals = directory(join(server, 'wals'), 0o755);
  const other = directory(join(home, 'other'), 0o700);
  const below = directory(join(other, 'wals'), 0o755);
  assert.deepEqual(await openDirectories([server, wals, below, join(home, 'missing')]), [
    { path: server, mode: lstatSync(server).mode },
  ]);
  chmodSync(server, 0o700);
  assert.deepEqual(await openDirectories([server, wals]), []);
  chmodSync(home, 0o750);
  chmodSync(server, 0o750);
  assert.equal((await openDirectories([wals])).length, 1, 'group access counts too');
});
