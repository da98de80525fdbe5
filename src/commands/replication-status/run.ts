/**
 * replication-status: the WAL senders of each active server (pg_stat_replication with the slot
 * each uses), in Barman's full or `--minimal` layout, with how far each client is behind.
 */
import type { ServerEntry } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import { prettySize } from '../../output/format.js';
import type { ReplicationClient, ReplicationTarget } from '../../postgres/index.js';
import {
  currentUser,
  currentWal,
  hasBackupPrivileges,
  PostgresClient,
  replicationStats,
} from '../../postgres/index.js';
import { parseLsn } from '../../wal/names.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';
import { walStreamingConfig } from '../shared/wal-connections.js';

interface ServerReplication {
  name: string;
  /** The server's current WAL location (replay location on a standby). */
  serverLsn: string | null;
  /** Location the clients are compared with (receive location on a standby). */
  currentLsn: string | null;
  clients: ReplicationClient[];
}

interface Result {
  minimal: boolean;
  target: ReplicationTarget;
  servers: ServerReplication[];
}

const TITLES: Record<ReplicationTarget, string> = {
  all: 'streaming clients',
  'hot-standby': 'hot standby servers',
  'wal-streamer': 'WAL streamers',
};

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const target = (input.options.target ?? 'all') as ReplicationTarget;
    const source = (input.options.source ?? 'backup-host') as string;
    const selected = selectServers(ctx, input.args.server_name as string[], {
      allowAll: true,
      includeInactive: false,
      includeDisabled: false,
    }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const servers: ServerReplication[] = [];
    for (const server of selected) {
      const found = await replicationOf(ctx, server, target, source);
      if (found) servers.push(found);
    }
    return { minimal: input.options.minimal === true, target, servers };
  },

  renderConsole({ minimal, target, servers }) {
    return servers.flatMap((server) => (minimal ? minimalLines : fullLines)(server, TITLES[target]));
  },

  renderJson({ minimal, target, servers }) {
    const title = TITLES[target];
    const key = title.toLowerCase().replace(/ /g, '_');
    return sortKeys(
      servers.map((server) => {
        const data: Record<string, unknown> = { [key]: [], server_lsn: server.serverLsn };
        if (server.clients.length === 0) data.standby_info = `No ${title} attached`;
        else
          data[key] = server.clients.map((client) =>
            minimal ? minimalJson(client) : fullJson(client, server),
          );
        return [server.name, data];
      }),
    );
  },
});

/** Barman writes JSON with sorted keys, at every level. */
function sortKeys(entries: Array<[string, unknown]>): Record<string, unknown> {
  const sortValue = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(sortValue)
      : value !== null && typeof value === 'object'
        ? sortKeys(Object.entries(value))
        : value;
  return Object.fromEntries(
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => [key, sortValue(value)]),
  );
}

async function replicationOf(
  ctx: CommandContext,
  server: ServerEntry,
  target: ReplicationTarget,
  source: string,
): Promise<ServerReplication | null> {
  const conninfo =
    source === 'wal-host' ? walStreamingConfig(server.config).conninfo : server.config.conninfo;
  let client: PostgresClient;
  try {
    client = await PostgresClient.connect(conninfo);
  } catch (error) {
    ctx.log.debug(`replication-status: ${describeError(error)}`);
    ctx.report.error(`Unable to connect to server ${server.name}`);
    return null;
  }
  try {
    if (!(await hasBackupPrivileges(client))) {
      ctx.report.error(
        `Postgres user '${await currentUser(client)}' is missing required privileges ` +
          `(see "Preliminary steps" in the Barman manual)`,
      );
      return null;
    }
    const stats = await replicationStats(client, target);
    const position = await currentWal(client);
    return {
      name: server.name,
      serverLsn: position.lsn,
      currentLsn: stats.currentLsn,
      clients: stats.clients,
    };
  } catch (error) {
    ctx.report.error(
      `Unable to read the replication status of server ${server.name}: ${describeError(error)}`,
    );
    return null;
  } finally {
    await client.close();
  }
}

/** Bytes between two `X/X` locations; null when either is unknown. */
export function lsnDiff(lsn: string | null, current: string | null): number | null {
  if (!lsn || !current) return null;
  return Number(parseLsn(lsn) - parseLsn(current));
}

/** Barman's sync stage: how far the client got with the newest WAL. */
export function syncStage(client: ReplicationClient, current: string | null): string {
  const diff = (lsn: string | null) => lsnDiff(lsn, current);
  const standby = Boolean(client.replayLsn);
  const max = standby ? 5 : 3;
  if (standby && diff(client.replayLsn) === 0) return '5/5 Hot standby (max)';
  if (standby && diff(client.flushLsn) === 0) return '4/5 2-safe';
  if (diff(client.writeLsn) === 0) return `3/${max} Remote write`;
  if (diff(client.sentLsn) === 0) return `2/${max} WAL Sent (min)`;
  return `1/${max} 1-safe`;
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1).toLowerCase();

function clientName(client: ReplicationClient): string {
  const kind = client.replayLsn ? 'standby' : 'WAL streamer';
  return client.syncPriority > 0
    ? `#${client.syncPriority} ${capitalize(client.syncState)} ${kind}`
    : `${capitalize(client.syncState)} ${kind}`;
}

/** PostgreSQL's `2026-11-21 04:58:11.47+00` as Python prints it: `2026-11-21 04:58:11.470000+00:00`. */
export function pythonTimestamp(text: string | null): string | null {
  if (!text) return text;
  const match = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?:\.(\d+))?([+-]\d\d)(?::?(\d\d))?$/.exec(text);
  if (!match) return text;
  const fraction = match[2] && Number(match[2]) !== 0 ? `.${match[2].padEnd(6, '0')}` : '';
  return `${match[1]}${fraction}${match[3]}:${match[4] ?? '00'}`;
}

function fullLines(server: ServerReplication, title: string): string[] {
  const lines = [`Status of ${title} for server '${server.name}':`];
  if (server.serverLsn) lines.push(`  Current LSN on master: ${server.serverLsn}`);
  if (server.clients.length === 0) return [...lines, `  No ${title} attached`];
  lines.push(`  Number of ${title}: ${server.clients.length}`);
  server.clients.forEach((client, index) => {
    const diff = (lsn: string | null) => prettySize(lsnDiff(lsn, server.currentLsn) ?? 0);
    lines.push('', `  ${index + 1}. ${clientName(client)}`);
    lines.push(`     Application name: ${client.applicationName}`);
    lines.push(`     Sync stage      : ${syncStage(client, server.currentLsn)}`);
    if (client.clientAddr) {
      lines.push('     Communication   : TCP/IP');
      lines.push(
        `     IP Address      : ${client.clientAddr} / Port: ${client.clientPort} / Host: ${client.clientHostname ?? '-'}`,
      );
    } else {
      lines.push('     Communication   : Unix domain socket');
    }
    lines.push(`     User name       : ${client.usename}`);
    lines.push(`     Current state   : ${client.state} (${client.syncState})`);
    if (client.slotName) lines.push(`     Replication slot: ${client.slotName}`);
    lines.push(`     WAL sender PID  : ${client.pid}`);
    lines.push(`     Started at      : ${pythonTimestamp(client.backendStart)}`);
    if (client.backendXmin) lines.push(`     Standby's xmin  : ${client.backendXmin}`);
    if (client.sentLsn) lines.push(`     Sent LSN   : ${client.sentLsn} (diff: ${diff(client.sentLsn)})`);
    if (client.writeLsn) lines.push(`     Write LSN  : ${client.writeLsn} (diff: ${diff(client.writeLsn)})`);
    if (client.flushLsn) lines.push(`     Flush LSN  : ${client.flushLsn} (diff: ${diff(client.flushLsn)})`);
    if (client.replayLsn)
      lines.push(`     Replay LSN : ${client.replayLsn} (diff: ${diff(client.replayLsn)})`);
  });
  return lines;
}

function minimalLines(server: ServerReplication, title: string): string[] {
  const head = server.serverLsn
    ? `${capitalize(title)} for master '${server.name}' (LSN @ ${server.serverLsn}):`
    : `${capitalize(title)} for slave '${server.name}':`;
  if (server.clients.length === 0) return [head, `  No ${title} attached`];
  return [
    head,
    ...server.clients.map((client, index) => {
      const who = `${client.usename}@${client.clientAddr ?? 'socket'}`;
      return client.replayLsn
        ? `  ${index + 1}. ${client.syncState.charAt(0).toUpperCase()}) ${who} S:${client.sentLsn} F:${client.flushLsn} R:${client.replayLsn} P:${client.syncPriority} AN:${client.applicationName}`
        : `  ${index + 1}. W) ${who} S:${client.sentLsn} W:${client.writeLsn} P:${client.syncPriority} AN:${client.applicationName}`;
    }),
  ];
}

function minimalJson(client: ReplicationClient): Record<string, unknown> {
  const common = { user_name: client.usename, client_addr: client.clientAddr ?? 'socket' };
  return client.replayLsn
    ? {
        sync_state: client.syncState.charAt(0).toUpperCase(),
        ...common,
        sent_lsn: client.sentLsn,
        flush_lsn: client.flushLsn,
        replay_lsn: client.replayLsn,
        sync_priority: client.syncPriority,
        application_name: client.applicationName,
      }
    : {
        ...common,
        sent_lsn: client.sentLsn,
        write_lsn: client.writeLsn,
        sync_priority: client.syncPriority,
        application_name: client.applicationName,
      };
}

function fullJson(client: ReplicationClient, server: ServerReplication): Record<string, unknown> {
  const data: Record<string, unknown> = {
    name: clientName(client),
    application_name: client.applicationName,
    sync_stage: syncStage(client, server.currentLsn),
  };
  if (client.clientAddr) {
    Object.assign(data, {
      communication: 'TCP/IP',
      ip_address: client.clientAddr,
      port: client.clientPort,
      host: client.clientHostname,
    });
  } else {
    data.communication = 'Unix domain socket';
  }
  Object.assign(data, {
    user_name: client.usename,
    current_state: client.state,
    current_sync_state: client.syncState,
  });
  if (client.slotName) data.replication_slot = client.slotName;
  Object.assign(data, { wal_sender_pid: client.pid, started_at: pythonTimestamp(client.backendStart) });
  if (client.backendXmin) data.standbys_xmin = client.backendXmin;
  for (const [kind, lsn] of [
    ['sent', client.sentLsn],
    ['write', client.writeLsn],
    ['flush', client.flushLsn],
    ['replay', client.replayLsn],
  ] as const) {
    if (!lsn) continue;
    const bytes = lsnDiff(lsn, server.currentLsn);
    Object.assign(data, {
      [`${kind}_lsn`]: lsn,
      [`${kind}_lsn_diff`]: prettySize(bytes ?? 0),
      [`${kind}_lsn_diff_bytes`]: bytes,
    });
  }
  return data;
}
