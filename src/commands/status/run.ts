/**
 * status: Barman's status layout for each active server — configuration flags, PostgreSQL
 * (version, state, size, data directory, current WAL), the file archiver's statistics, retention
 * and the backups. Rows PostgreSQL cannot provide are left out.
 */
import { statusOf } from '../../catalog/backups.js';
import { describeDrill, loadDrillResults } from '../../catalog/drills.js';
import { formatGfsPolicy, formatRetentionPolicy } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import { prettySize, pythonStr } from '../../output/format.js';
import { ctimeOfWallTime } from '../../output/time.js';
import { defineCommandModule } from '../definition.js';
import { loadAnyServerCatalog, retentionEnforced } from '../shared/backup-catalog.js';
import { probePostgres } from '../../postgres/probe.js';
import { selectServers } from '../shared/select-servers.js';
import { isPassive } from '../shared/passive/state.js';
import { isMirror } from '../shared/mirror/state.js';

export interface StatusRow {
  key: string;
  description: string;
  message: string;
}

interface Result {
  servers: Array<{ name: string; rows: StatusRow[] }>;
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const selected = selectServers(ctx, input.args.server_name as string[], {
      allowAll: true,
      includeInactive: false,
      includeDisabled: false,
    }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const result: Result = { servers: [] };
    for (const server of selected) {
      const config = server.config;
      const rows: StatusRow[] = [];
      const row = (key: string, description: string, message: unknown) =>
        rows.push({ key, description, message: pythonStr(message) });

      if (config.description) row('description', 'Description', config.description);
      row('active', 'Active', config.active);
      row('disabled', 'Disabled', server.disabled);
      // Barman 3.10+: the model `config-switch` made active, or None.
      row('active_model', 'Active configuration model', server.activeModel);

      // A passive node never connects to PostgreSQL (Barman leaves these rows out there).
      const passive = isPassive(config);
      const mirror = isMirror(config);
      const pg =
        passive || mirror
          ? null
          : await probePostgres(config, { log: ctx.log.child({ server: server.name }), sizes: true });
      if (pg === null) {
        // no PostgreSQL rows
      } else if (pg.versionText === null) {
        row('pg_version', 'PostgreSQL version', 'FAILED trying to get PostgreSQL version');
      } else {
        row('pg_version', 'PostgreSQL version', pg.versionText);
        row('is_in_recovery', 'Cluster state', pg.isInRecovery ? 'in archive recovery' : 'in production');
        if (pg.currentSize !== null) row('current_size', 'Current data size', prettySize(pg.currentSize));
        if (pg.dataDirectory) row('data_directory', 'PostgreSQL Data directory', pg.dataDirectory);
        if (pg.currentWal) row('current_xlog', 'Current WAL segment', pg.currentWal);
        if (config.archiver && pg.archiveMode !== null) {
          row(
            'archive_command',
            "PostgreSQL 'archive_command' setting",
            pg.archiveCommand || 'FAILED (please set it accordingly to documentation)',
          );
          const archiver = pg.archiver;
          let last = archiver?.lastArchivedWal ?? null;
          if (last && archiver?.lastArchivedTime) {
            const time = archiver.lastArchivedTime;
            last += `, at ${ctimeOfWallTime(time.epochMs, time.utcOffsetMinutes)}`;
          }
          row('last_archived_wal', 'Last archived WAL', last ?? 'No WAL segment shipped yet');
          if (archiver) {
            let failures = String(archiver.failedCount);
            if (archiver.failedCount > 0 && archiver.lastFailedWal) {
              const time = archiver.lastFailedTime;
              failures += ` (${archiver.lastFailedWal} at ${time ? ctimeOfWallTime(time.epochMs, time.utcOffsetMinutes) : 'unknown time'})`;
            }
            row('failed_count', 'Failures of WAL archiver', failures);
            if (archiver.archivedPerSecond) {
              row(
                'server_archived_wals_per_hour',
                'Server WAL archiving rate',
                `${(3600 * archiver.archivedPerSecond).toFixed(2)}/hour`,
              );
            }
          }
        }
      }
      row('passive_node', 'Passive node', passive);
      row(
        'retention_policies',
        'Retention policies',
        retentionEnforced(config)
          ? `enforced (mode: ${config.retention_policy_mode}, retention: ${[
              ...(config.retention_policy ? [formatRetentionPolicy(config.retention_policy)] : []),
              // barman-ts's GFS, added to Barman's line only when set.
              ...(config.retention_gfs ? [`GFS ${formatGfsPolicy(config.retention_gfs)}`] : []),
            ].join(' + ')}, WAL retention: ${config.wal_retention_policy.toUpperCase()})`
          : 'not enforced',
      );

      let catalog;
      try {
        catalog = await loadAnyServerCatalog(config, ctx.report);
      } catch (error) {
        ctx.report.error(
          `cannot read the backup catalogue of server '${server.name}': ${describeError(error)}`,
        );
        result.servers.push({ name: server.name, rows });
        continue;
      }
      const done = catalog.backups.filter((backup) => statusOf(backup) === 'DONE').length;
      const available = catalog.backups.filter((backup) =>
        ['DONE', 'WAITING_FOR_WALS'].includes(statusOf(backup)),
      );
      row('backups_number', 'No. of available backups', done);
      row('first_backup', 'First available backup', available[0]?.id ?? null);
      row('last_backup', 'Last available backup', available.at(-1)?.id ?? null);
      const minimum = config.minimum_redundancy;
      row(
        'minimum_redundancy',
        'Minimum redundancy requirements',
        `${done < minimum ? 'FAILED' : 'satisfied'} (${done}/${minimum})`,
      );
      // barman-ts's restore drills (verify-restore): the newest result, whichever backup.
      const drills = await loadDrillResults(config);
      const drill = drills.results[0];
      if (drills.error || drill || config.restore_drill_schedule)
        row(
          'restore_drill',
          'Last restore drill',
          drills.error ? `unreadable: ${drills.error}` : drill ? describeDrill(drill) : 'none yet',
        );
      if (passive)
        row('passive_primary_ssh_command', 'SSH command to primary server', config.primary_ssh_command);
      if (mirror) row('mirror_of', 'Mirror of server', config.mirror_of);
      result.servers.push({ name: server.name, rows });
    }
    return result;
  },

  renderConsole({ servers }) {
    return servers.flatMap(({ name, rows }) => [
      `Server ${name}:`,
      ...rows.map((row) => `\t${row.description}: ${row.message}`),
    ]);
  },

  renderJson({ servers }) {
    // Barman writes JSON with sorted keys.
    const sorted = <T>(entries: Array<[string, T]>) =>
      Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return sorted(
      servers.map(({ name, rows }) => [
        name,
        sorted(rows.map((row) => [row.key, { description: row.description, message: row.message }])),
      ]),
    );
  },
});
