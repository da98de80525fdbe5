import { readFileSync } from 'node:fs';
import { arch, hostname, release, userInfo } from 'node:os';
import { formatProblem } from '../../config/index.js';
import { programVersion } from '../../process/index.js';
import { redactValue } from '../../util/redact.js';
import { defineCommandModule } from '../definition.js';
import { serverConfigJson } from '../shared/config-display.js';

interface DiagnoseResult {
  global: {
    config: Record<string, unknown>;
    config_files: readonly string[];
    errors_list: string[];
    system_info: Record<string, unknown>;
  };
  servers: Record<string, { config: Record<string, unknown>; disabled: boolean; problems: string[] }>;
  models: Record<string, { cluster: string | null; options: Record<string, unknown>; problems: string[] }>;
}

export default defineCommandModule<DiagnoseResult>({
  async run(ctx) {
    const [rsync, ssh, pgBasebackup] = await Promise.all([
      programVersion('rsync'),
      programVersion('ssh', ['-V']),
      programVersion('pg_basebackup'),
    ]);
    const config = ctx.config;
    return {
      global: {
        config: redactValue({ ...config.globalRaw }),
        config_files: config.files,
        errors_list: config.problems.map(formatProblem),
        system_info: {
          barman_ver: ctx.version,
          implementation: 'barman-ts',
          node_ver: process.version,
          kernel_ver: `${release()} ${arch()}`,
          distribution: osReleaseName(),
          hostname: hostname(),
          user: userInfo().username,
          rsync_ver: rsync,
          ssh_ver: ssh,
          pg_basebackup_ver: pgBasebackup,
          timestamp: new Date().toISOString(),
        },
      },
      servers: Object.fromEntries(
        [...config.servers.values()].map((server) => [
          server.name,
          {
            config: serverConfigJson(server),
            disabled: server.disabled,
            problems: server.problems.map(formatProblem),
          },
        ]),
      ),
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

function osReleaseName(): string | null {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(text)?.[1] ?? null;
  } catch {
    return null;
  }
}
