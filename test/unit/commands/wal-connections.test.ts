import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../../../src/config/index.js';
import { hasWalConnections, walStreamingConfig } from '../../../src/commands/shared/wal-connections.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

function server(lines: string) {
  const dir = writeConfigFiles({
    'barman.conf': `[barman]\nbarman_home = /srv/b\n[pg]\nconninfo = host=backup\nbackup_method = postgres\narchiver = on\n${lines}`,
  });
  return loadConfig({ configFile: join(dir, 'barman.conf') }).servers.get('pg')!.config;
}

test("WAL connections fall back as Barman's: wal_conninfo, wal_streaming_conninfo, then conninfo", () => {
  const plain = server('');
  assert.equal(walStreamingConfig(plain), plain);
  assert.equal(hasWalConnections(plain), false);

  const streamingOnly = walStreamingConfig(server('wal_streaming_conninfo = host=standby user=s\n'));
  assert.equal(streamingOnly.streaming_conninfo, 'host=standby user=s');
  assert.equal(streamingOnly.conninfo, 'host=standby user=s');

  const both = server(
    'streaming_conninfo = host=backup user=r\nwal_streaming_conninfo = host=standby user=s\nwal_conninfo = host=standby user=w\n',
  );
  assert.equal(hasWalConnections(both), true);
  assert.deepEqual(
    [walStreamingConfig(both).streaming_conninfo, walStreamingConfig(both).conninfo],
    ['host=standby user=s', 'host=standby user=w'],
  );

  const walOnly = walStreamingConfig(server('wal_conninfo = host=standby\n'));
  assert.deepEqual([walOnly.streaming_conninfo, walOnly.conninfo], ['host=backup', 'host=standby']);
});
