/**
 * show-server: every resolved option of the servers with the derived paths and, as Barman 3.4
 * shows them, the live values PostgreSQL reports (settings, WAL position, replication slot,
 * archiver statistics, the pg_basebackup and pg_receivewal found). Secrets are redacted.
 */
import { statusOf } from '../../catalog/backups.js';
import type { ServerEntry } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import { humanDuration } from '../../output/time.js';
import type { CommandContext } from '../definition.js';
import { defineCommandModule } from '../definition.js';
import { loadAnyServerCatalog } from '../shared/backup-catalog.js';
import { serverConfigConsole, serverConfigJson, withConfigSources } from '../shared/config-display.js';
import type { RemoteStatus } from '../shared/remote-status.js';
import { remoteStatus } from '../shared/remote-status.js';
import { selectServers } from '../shared/select-servers.js';

interface Shown {
  server: ServerEntry;
  live: RemoteStatus;
  showSources: boolean;
}

export default defineCommandModule<Shown[]>({
  async run(ctx, input) {
    const names = (input.args.server_name as readonly string[] | undefined) ?? [];
    const servers = selectServers(ctx, names, {
      allowAll: true,
      includeInactive: true,
      includeDisabled: true,
    });
    const shown: Shown[] = [];
    // Barman asks PostgreSQL about inactive and disabled servers too.
    for (const server of servers) {
      const live = await remoteStatus(server.config, { log: ctx.log.child({ server: server.name }) });
      live.last_backup_maximum_age = await backupAgeText(ctx, server);
      shown.push({ server, live, showSources: input.options.showConfigSource === true });
    }
    return shown;
  },

  renderConsole(shown) {
    return shown.flatMap(({ server, live, showSources }) => [
      `Server ${server.name}${flagOf(server) ? ` ${flagOf(server)}` : ''}:`,
      ...serverConfigConsole(server, live, showSources),
    ]);
  },

  renderJson(shown) {
    return Object.fromEntries(
      shown.map(({ server, live, showSources }) => {
        const values = serverConfigJson(server, live);
        // Barman starts each server's object with the flag as its description.
        values.description ??= flagOf(server);
        return [server.name, showSources ? withConfigSources(server, values) : values];
      }),
    );
  },
});

/**
 * Barman's last_backup_maximum_age line: the limit and the age of the newest backup (DONE or
 * WAITING_FOR_WALS), flagged when older; the text `None` when no limit is set.
 */
async function backupAgeText(ctx: CommandContext, server: ServerEntry): Promise<string> {
  const limit = server.config.last_backup_maximum_age;
  if (!limit) return 'None';
  let age = 'No available backups';
  let young = false;
  try {
    const catalog = await loadAnyServerCatalog(server.config, ctx.report);
    const last = catalog.backups
      .filter((backup) => ['DONE', 'WAITING_FOR_WALS'].includes(statusOf(backup)))
      .at(-1);
    const end = last?.info?.end_time;
    if (last && !end) age = 'unknown (the backup has no end time)';
    if (end) {
      const seconds = (Date.now() - end.epochMs) / 1000;
      age = humanDuration(Math.abs(seconds));
      young = seconds <= limit.seconds;
    }
  } catch (error) {
    age = `unknown (${describeError(error)})`;
  }
  return young
    ? `${humanDuration(limit.seconds)} (latest backup: ${age} )`
    : `${humanDuration(limit.seconds)} (WARNING! latest backup is ${age} old)`;
}

function flagOf(server: ServerEntry): string | null {
  return server.disabled ? '(WARNING: disabled)' : server.config.active ? null : '(inactive)';
}
