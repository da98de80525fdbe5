/**
 * The shipped configuration examples load cleanly: every server enabled, no problem reported,
 * and each file's barman_user fits its servers (the methods that read PGDATA and are started by
 * archive_command run as the cluster owner; a backup server runs as `barman`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatProblem, loadConfig } from '../../../src/config/index.js';

const LOCAL_METHODS = new Set(['local-rsync', 'local-to-cloud']);

for (const [file, barmanUser] of [
  ['barman.conf.example', 'barman'],
  ['barman-local.conf.example', 'postgres'],
] as const) {
  test(`${file}: every server enabled, barman_user ${barmanUser}`, () => {
    const config = loadConfig({ configFile: fileURLToPath(new URL(`../../../../${file}`, import.meta.url)) });
    assert.deepEqual(config.problems.map(formatProblem), []);
    assert.equal(config.global.barman_user, barmanUser);
    assert.ok(config.servers.size >= 2);
    for (const server of config.servers.values()) {
      assert.deepEqual(server.problems.map(formatProblem), [], server.name);
      assert.equal(server.disabled, false, server.name);
      assert.equal(server.config.active, true, server.name);
      // Local methods need a barman_user that can read PGDATA: the cluster owner, never `barman`.
      assert.equal(LOCAL_METHODS.has(server.config.backup_method), barmanUser === 'postgres', server.name);
    }
  });
}
