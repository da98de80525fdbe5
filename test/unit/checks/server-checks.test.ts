/**
 * The catalogue side of `check` on a hand-made catalogue, with PostgreSQL unreachable: WAL
 * archive, queues, directories, backup age and size, WAL age and size, failed backups,
 * minimum redundancy, configuration, archiver errors, and the order of the checks.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { emptyBackupInfo, formatBackupInfo, parseTimestamp } from '../../../src/catalog/backup-info.js';
import { runServerChecks } from '../../../src/commands/shared/checks/server-checks.js';
import type { CheckResult } from '../../../src/commands/shared/checks/results.js';
import { isCritical } from '../../../src/commands/shared/checks/results.js';
import { loadConfig } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { MemoryReporter } from '../../../src/output/reporter.js';
import { catalogueAreas } from '../../../src/recovery/protected-paths.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const NOW = Date.parse('2026-11-21T12:00:00Z');

function backupInfo(id: string, status: 'DONE' | 'FAILED', fields: Record<string, unknown> = {}): string {
  return formatBackupInfo(
    emptyBackupInfo('pg', {
      backup_id: id,
      status,
      begin_wal: '000000010000000000000002',
      end_wal: '000000010000000000000003',
      begin_time: parseTimestamp('2026-11-19 11:00:00+00:00'),
      end_time: parseTimestamp('2026-11-19 12:00:00+00:00'),
      size: 1000,
      pgdata: '/srv/pgdata',
      ...fields,
    } as never),
  );
}

function catalogue(extra: string): { dir: string; results: () => Promise<CheckResult[]> } {
  const dir = writeConfigFiles({
    'barman.conf': `[barman]
barman_home = @DIR@/home
barman_user = ${process.env.USER ?? 'root'}

[pg]
conninfo = host=127.0.0.1 port=1 user=postgres connect_timeout=5
backup_method = local-rsync
archiver = on
${extra}
`,
  });
  return {
    dir,
    results: async () => {
      const config = loadConfig({ configFile: join(dir, 'barman.conf') });
      const report = await runServerChecks(config.servers.get('pg')!, {
        log: silentLogger,
        report: new MemoryReporter(),
        timeoutSeconds: 20,
        nowMs: NOW,
        catalogueAreas: catalogueAreas(config),
      });
      return report.results;
    },
  };
}

const byName = (results: CheckResult[], name: string) => results.find((result) => result.name === name);

test('a fresh server: missing directories are created, WAL archive fails, PostgreSQL fails', async () => {
  const { dir, results } = catalogue('');
  const list = await results();
  assert.deepEqual(
    list.map(
      (result) => `${result.name}: ${result.ok ? 'OK' : 'FAILED'}${result.hint ? ` (${result.hint})` : ''}`,
    ),
    [
      'WAL archive: FAILED (please make sure WAL shipping is setup)',
      `PostgreSQL: FAILED (${byName(list, 'PostgreSQL')!.hint})`,
      'directories: OK',
      'retention policy settings: OK',
      'backup maximum age: OK (no last_backup_maximum_age provided)',
      'backup minimum size: OK (0 B)',
      'wal maximum age: OK (no last_wal_maximum_age provided)',
      'wal size: OK (0 B)',
      'compression settings: OK',
      'failed backups: OK (there are 0 failed backups)',
      'minimum redundancy requirements: OK (have 0 backups, expected at least 0)',
      'systemid coherence: OK (no system Id available)',
      'archiver errors: OK',
    ],
  );
  assert.match(byName(list, 'PostgreSQL')!.hint!, /ECONNREFUSED/);
  for (const sub of ['base', 'wals', 'incoming', 'streaming', 'errors']) {
    assert.ok(existsSync(join(dir, 'home/pg', sub)), `${sub}/ created`);
  }
});

test('ages, sizes, counts, queues and archiver errors against the configured limits', async () => {
  const { dir, results } = catalogue(`last_backup_maximum_age = 1 DAYS
last_backup_minimum_size = 1 Ki
last_wal_maximum_age = 1 HOURS
minimum_redundancy = 2
max_incoming_wals_queue = 1
compression = gzip`);
  const home = join(dir, 'home/pg');
  for (const sub of ['base/20261119T110000', 'base/20261120T110000', 'wals', 'incoming', 'errors']) {
    mkdirSync(join(home, sub), { recursive: true });
  }
  writeFileSync(join(home, 'base/20261119T110000/backup.info'), backupInfo('20261119T110000', 'DONE'));
  writeFileSync(join(home, 'base/20261120T110000/backup.info'), backupInfo('20261120T110000', 'FAILED'));
  const stamp = (iso: string) => (Date.parse(iso) / 1000).toFixed(1);
  writeFileSync(
    join(home, 'wals/xlog.db'),
    [
      `000000010000000000000002\t100\t${stamp('2026-11-19T11:00:00Z')}\tgzip`,
      `000000010000000000000003\t100\t${stamp('2026-11-19T12:00:00Z')}\tgzip`,
      `000000010000000000000004\t300\t${stamp('2026-11-21T09:30:00Z')}\tgzip`,
      '',
    ].join('\n'),
  );
  for (const name of [
    '000000010000000000000005',
    '000000010000000000000006',
    '.000000010000000000000007.tmp',
  ]) {
    writeFileSync(join(home, 'incoming', name), '');
  }
  writeFileSync(join(home, 'errors/000000010000000000000009.20261121T000000Z.duplicate'), '');
  const list = await results();
  const line = (name: string) => {
    const result = byName(list, name);
    return result && `${result.ok ? 'OK' : 'FAILED'}${result.hint ? ` (${result.hint})` : ''}`;
  };
  assert.equal(byName(list, 'WAL archive'), undefined, 'a non-empty xlog.db passes silently');
  assert.equal(line('incoming WALs directory'), 'FAILED (there are too many WALs in queue: 2, max 1)');
  assert.equal(line('backup maximum age'), 'FAILED (interval provided: 1 day, latest backup age: 2 days)');
  assert.equal(line('backup minimum size'), 'FAILED (last backup size 1000 B < 1.0 KiB minimum)');
  assert.equal(byName(list, 'backup minimum size')!.perfdata, 1000);
  assert.equal(
    line('wal maximum age'),
    'FAILED (interval provided: 1 hour, latest wal age: 2 hours, 30 minutes)',
  );
  assert.equal(line('wal size'), 'OK (300 B)');
  assert.equal(byName(list, 'wal size')!.perfdata, 300);
  assert.equal(line('compression settings'), 'OK');
  assert.equal(line('failed backups'), 'FAILED (there are 1 failed backups)');
  assert.equal(line('minimum redundancy requirements'), 'FAILED (have 1 backups, expected at least 2)');
  assert.equal(line('archiver errors'), 'FAILED (duplicates: 1)');
});

test('an archiver turned off with files left in incoming/', async () => {
  const { dir, results } = catalogue('streaming_archiver = on\nslot_name = barman\narchiver = off');
  mkdirSync(join(dir, 'home/pg/incoming'), { recursive: true });
  writeFileSync(join(dir, 'home/pg/incoming/000000010000000000000005'), '');
  const list = await results();
  assert.deepEqual(byName(list, 'empty incoming directory'), {
    name: 'empty incoming directory',
    ok: false,
    hint: `'${join(dir, 'home/pg/incoming')}' must be empty when archiver=off`,
  });
  // The streaming archiver's checks replace the file archiver's.
  assert.equal(byName(list, 'archive_mode'), undefined);
  assert.equal(byName(list, 'receive-wal running')?.ok, false);
});

test('a disabled server: no directories check, its configuration errors listed', async () => {
  const { results } = catalogue('parallel_jobs = many');
  const list = await results();
  assert.equal(byName(list, 'directories'), undefined);
  const configuration = byName(list, 'configuration')!;
  assert.equal(configuration.ok, false);
  assert.match(
    configuration.details![0]!,
    /^\[pg\] parallel_jobs: expected an integer, got 'many' \(.*barman\.conf, line \d+\)$/,
  );
});

test('an invalid retention_gfs fails "retention policy settings" as an invalid retention_policy does', async () => {
  for (const [extra, says] of [
    ['retention_gfs = 3 DAILY, 2 YEARLY', /got '3 DAILY, 2 YEARLY'/],
    ['retention_policy = REDUNDANCY x', /got 'REDUNDANCY x'/],
  ] as const) {
    const settings = byName(await catalogue(extra).results(), 'retention policy settings')!;
    assert.equal(settings.ok, false, extra);
    assert.match(settings.hint!, says);
  }
  const valid = byName(await catalogue('retention_gfs = 3 DAILY').results(), 'retention policy settings')!;
  assert.equal(valid.ok, true);
});

test('restore drill: a restore_drill_directory inside the catalogue fails, naming the option', async () => {
  for (const [where, area] of [
    ['home', 'barman_home'],
    ['home/pg', "backup_directory of server 'pg'"],
    ['home/pg/base/drills', "basebackups_directory of server 'pg'"],
    ['home/pg/wals', "wals_directory of server 'pg'"],
  ] as const) {
    const { dir, results } = catalogue(`restore_drill_directory = @DIR@/${where}`);
    const drill = byName(await results(), 'restore drill')!;
    assert.equal(drill.ok, false, where);
    assert.ok(
      drill.hint!.startsWith(
        `restore drill directory ${join(dir, where)} (restore_drill_directory) is inside ${area} `,
      ),
      drill.hint ?? undefined,
    );
  }
  // Outside: the check passes and says where drills go; a drill directory does not block backups.
  const { dir, results } = catalogue('restore_drill_directory = @DIR@/drills');
  const drill = byName(await results(), 'restore drill')!;
  assert.deepEqual(drill, { name: 'restore drill', ok: true, hint: `directory ${join(dir, 'drills')}` });
  assert.equal(isCritical({ name: 'restore drill', ok: false, hint: null }), false);
  // Neither a directory nor a schedule: no such check.
  assert.equal(byName(await catalogue('').results(), 'restore drill'), undefined);
});

test('a check that outlives check_timeout ends the run with "check timeout"', async () => {
  const { dir } = catalogue('');
  const config = loadConfig({ configFile: join(dir, 'barman.conf') });
  // An rsync server whose ssh_command hangs.
  const entry = config.servers.get('pg')!;
  const slow = {
    ...entry,
    config: { ...entry.config, backup_method: 'rsync' as const, ssh_command: 'exec sleep 5;' },
  };
  const started = Date.now();
  const report = await runServerChecks(slow, {
    log: silentLogger,
    report: new MemoryReporter(),
    timeoutSeconds: 1,
    nowMs: NOW,
    catalogueAreas: catalogueAreas(config),
  });
  assert.ok(Date.now() - started < 3000, 'returns at the timeout');
  assert.deepEqual(report.results.at(-1), {
    name: 'check timeout',
    ok: false,
    hint: 'barman check command timed out',
  });
  assert.equal(byName(report.results, 'ssh'), undefined);
});
