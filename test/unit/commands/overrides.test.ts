import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ServerConfig } from '../../../src/config/index.js';
import { withOverrides } from '../../../src/commands/shared/overrides.js';

test('command-line option values win over the configuration; unknown keys are ignored', () => {
  const config = {
    name: 'pg',
    parallel_jobs: 1,
    bandwidth_limit: null,
    network_compression: false,
  } as unknown as ServerConfig;
  const effective = withOverrides(config, { parallel_jobs: 4, bandwidth_limit: 512, log_level: 'DEBUG' });
  assert.equal(effective.parallel_jobs, 4);
  assert.equal(effective.bandwidth_limit, 512);
  assert.equal(effective.network_compression, false);
  assert.equal((effective as unknown as Record<string, unknown>).log_level, undefined);
  assert.equal(config.parallel_jobs, 1, 'the server configuration itself is unchanged');
});
