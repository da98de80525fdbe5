/**
 * diagnose: one JSON document for support requests, in Barman 3.4's layout — global
 * configuration (with errors_list) and system information; per server its configuration, remote
 * status, backups and newest WAL per timeline — plus barman-ts's configuration files and models.
 * Secrets are redacted.
 */
import { readFileSync } from 'node:fs';
import { arch, hostname, release, userInfo } from 'node:os';
import { formatTimestamp } from '../../catalog/backup-info.js';
import type { ServerEntry } from '../../config/index.js';
import { formatProblem } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import { programVersion } from '../../process/index.js';
import { redactValue } from '../../util/redact.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { loadAnyServerCatalog } from '../shared/backup-catalog.js';
import { serverConfigJson, withConfigSources } from '../shared/config-display.js';
import { remoteStatus } from '../shared/remote-status.js';
import { backupsJson, lastWalPerTimeline } from '../shared/backup-info-json.js';

interface ServerDiagnosis {
  backups: Record<string, Record<string, unknown>>;
  config: Record<string, unknown>;
  status: Record<string, unknown>;
  wals: { last_archived_wal_per_timeline: Record<string, Record<string, unknown>> };
}

interface DiagnoseResult {
  global: {
    config: Record<string, unknown>;
    config_files: readonly string[];
    system_info: Record<string, unknown>;
  };
  servers: Record<string, ServerDiagnosis>;
  models: Record<string, { cluster: string | null; options: Record<string, unknown>; problems: string[] }>;
}

export default defineCommandModule<DiagnoseResult>({
  async run(ctx, input) {
    const showSources = input.options.showConfigSource === true;
    const [rsync, ssh, pgBasebackup] = await Promise.all([
      programVersion('rsync'),
      programVersion('ssh', ['-V']),
      programVersion('pg_basebackup'),
    ]);
    const config = ctx.config;
    const servers: Record<string, ServerDiagnosis> = {};
    for (const server of [...config.servers.values()].sort((a, b) => (a.name < b.name ? -1 : 1)))
      servers[server.name] = await diagnoseServer(ctx, server, showSources);
    return {
      global: {
        config: redactValue({ ...config.globalRaw, errors_list: config.problems.map(formatProblem) }),
        config_files: config.files,
        system_info: {
          barman_ver: ctx.version,
          implementation: 'barman-ts',
          node_ver: process.version,
          kernel_ver: `${release()} ${arch()}`,
          release: osReleaseName(),
          hostname: hostname(),
          user: userInfo().username,
          rsync_ver: rsync,
          ssh_ver: ssh,
          pg_basebackup_ver: pgBasebackup,
          // Barman: now in the local time zone, ISO 8601.
          timestamp: formatTimestamp(new Date(), -new Date().getTimezoneOffset()).replace(' ', 'T'),
        },
      },
      servers,
      models: Object.fromEntries(
        [...config.models.values()].map((model) => [
          model.name,
          {
            cluster: model.cluster,
            options: redactValue({ ...model.options }),
            problems: model.problems.map(formatProblem),
          },
        ]),
      ),
    };
  },

  renderConsole(data) {
    return [JSON.stringify(data, null, 4)];
  },

  renderJson(data) {
    return { ...data };
  },
});

async function diagnoseServer(
  ctx: CommandContext,
  server: ServerEntry,
  showSources: boolean,
): Promise<ServerDiagnosis> {
  const log = ctx.log.child({ server: server.name });
  const config = serverConfigJson(server);
  const diagnosis: ServerDiagnosis = {
    backups: {},
    config: showSources ? withConfigSources(server, config) : config,
    status: redactValue(await remoteStatus(server.config, { log, encoding: 'diagnose' })),
    wals: { last_archived_wal_per_timeline: {} },
  };
  try {
    const catalog = await loadAnyServerCatalog(server.config, ctx.report);
    diagnosis.backups = redactValue(backupsJson(catalog));
    diagnosis.wals.last_archived_wal_per_timeline = lastWalPerTimeline(catalog);
  } catch (error) {
    // A support document still comes out; the reason is in it.
    (diagnosis as unknown as Record<string, unknown>).catalog_error = describeError(error);
  }
  return diagnosis;
}

function osReleaseName(): string | null {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? null;
  } catch {
    return null;
  }
}
