/**
 * The checks of WAL streaming, and of the replication slot, shared by the backup connection and,
 * when wal_streaming_conninfo / wal_conninfo are set, by those connections: Barman 3.10+ then
 * runs them again on the WAL connections with ` (WAL streaming)` after their names, and checks
 * the slot only there (it lives on the server the WAL is streamed from).
 */
import { join } from 'node:path';
import { readIdentity } from '../../../catalog/identity.js';
import type { ServerConfig } from '../../../config/index.js';
import type { Logger } from '../../../log/index.js';
import { walStreamingConfig } from '../wal-connections.js';
import type { PostgresProbe, StreamingProbe } from '../../../postgres/probe.js';
import { probePostgres, probeStreaming } from '../../../postgres/probe.js';
import type { CheckCollector } from './results.js';

const SUFFIX = ' (WAL streaming)';

/** Checks over wal_streaming_conninfo / wal_conninfo (only called when they are set). */
export async function runWalStreamingChecks(
  config: ServerConfig,
  c: CheckCollector,
  options: { log: Logger; signal: AbortSignal },
): Promise<void> {
  const wal = walStreamingConfig(config);
  c.start(`PostgreSQL${SUFFIX}`);
  const pg = await probePostgres(wal, options);
  c.add(`PostgreSQL${SUFFIX}`, pg.error === null, pg.error);
  c.start(`PostgreSQL streaming${SUFFIX}`);
  const streaming = await probeStreaming(wal, options);
  c.add(`PostgreSQL streaming${SUFFIX}`, streaming.identity !== null, streaming.error);
  if (pg.walLevel !== null) {
    c.start(`wal_level${SUFFIX}`);
    if (pg.walLevel !== 'minimal') c.add(`wal_level${SUFFIX}`, true);
    else c.add(`wal_level${SUFFIX}`, false, "please set it to a higher level than 'minimal'");
  }
  if (config.slot_name) replicationSlotCheck(c, config, pg, SUFFIX);
  await identityCheck(c, config, streaming, pg, SUFFIX);
}

/** `replication slot`: present, initialised and active when streaming; warned about when unused. */
export function replicationSlotCheck(
  c: CheckCollector,
  config: ServerConfig,
  pg: PostgresProbe,
  suffix = '',
): void {
  const slotName = config.slot_name!;
  const name = `replication slot${suffix}`;
  c.start(name);
  const slot = pg.slot;
  if (config.streaming_archiver) {
    if (slot === null) {
      c.add(
        name,
        false,
        `replication slot '${slotName}' doesn't exist. Please execute 'barman receive-wal --create-slot ${config.name}'`,
      );
    } else if (slot.restart_lsn === null) {
      c.add(name, false, `slot '${slotName}' not initialised: is 'receive-wal' running?`);
    } else if (!slot.active) {
      c.add(name, false, `slot '${slotName}' not active: is 'receive-wal' running?`);
    } else {
      c.add(name, true);
    }
  } else if (slot !== null && slot.restart_lsn !== null) {
    // Not a failure: a slot nobody consumes retains WAL on the server.
    c.add(
      name,
      true,
      `WARNING: slot '${slotName}' is ${slot.active ? 'active' : 'initialised'} but not required by the current config`,
    );
  }
}

/** `systemid coherence`: both connections reach one cluster, the one identity.json records. */
export async function identityCheck(
  c: CheckCollector,
  config: ServerConfig,
  streamingProbe: StreamingProbe | null,
  pg: PostgresProbe,
  suffix = '',
): Promise<void> {
  const name = `systemid coherence${suffix}`;
  c.start(name);
  const streaming = streamingProbe?.identity?.systemid ?? null;
  const postgres = pg.systemid;
  if (streaming && postgres && streaming !== postgres) {
    c.add(name, false, 'is the streaming DSN targeting the same server of the PostgreSQL connection string?');
    return;
  }
  const live = streaming ?? postgres;
  if (!live) {
    c.add(name, true, 'no system Id available');
    return;
  }
  const file = join(config.backup_directory, 'identity.json');
  const stored = await readIdentity(file);
  if (stored === null) c.add(name, true, 'no system Id stored on disk');
  else if (stored.systemid !== live)
    c.add(name, false, `the system Id of the connected PostgreSQL server changed, stored in "${file}"`);
  else c.add(name, true);
}
