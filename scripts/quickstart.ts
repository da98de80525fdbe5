/**
 * `npm run quickstart`: the main job of barman-ts on an embedded default, explained as it runs.
 * A throwaway PostgreSQL 15 cluster is created in a temporary directory, barman-ts is configured
 * for it, its WAL is archived, it is backed up, more data is written, and it is recovered to a
 * point in time between two commits; PostgreSQL is started on the result to show exactly the
 * expected rows. Everything is removed at the end.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BARMAN_BIN, runBarman } from '../test/harness/barman.js';
import { startPostgres } from '../test/harness/postgres.js';
import { chownTo, currentUserName, isRoot, makeTempDir } from '../test/harness/tmp.js';

const step = (text: string) => console.log(`\n==> ${text}`);
const explain = (text: string) => console.log(`    ${text}`);

async function barman(config: string, args: string[]): Promise<string> {
  const run = await runBarman(['-c', config, ...args]);
  const indent = (text: string, mark: string) => `${text.trimEnd().replace(/^/gm, `    ${mark} `)}\n`;
  if (run.stdout.trim()) process.stdout.write(indent(run.stdout, '|'));
  if (run.stderr.trim()) process.stderr.write(indent(run.stderr, '!'));
  if (run.exitCode !== 0) throw new Error(`barman ${args.join(' ')} exited with ${run.exitCode}`);
  return run.stdout;
}

async function quickstart(): Promise<void> {
  // barman-ts runs as the cluster owner here (as with backup_method = local-rsync on the database host).
  const osUser = isRoot() ? 'postgres' : currentUserName();
  const work = await makeTempDir('quickstart', { owner: isRoot() ? osUser : undefined });
  const home = join(work, 'barman');
  const incoming = join(home, 'quickstart', 'incoming');
  mkdirSync(incoming, { recursive: true });
  await chownTo(home, isRoot() ? osUser : undefined);
  await chownTo(join(home, 'quickstart'), isRoot() ? osUser : undefined);
  await chownTo(incoming, isRoot() ? osUser : undefined);

  step('Starting a throwaway PostgreSQL 15 cluster');
  explain('initdb in a temporary directory, listening on 127.0.0.1 on a free port, with WAL archiving on:');
  explain("archive_command = 'barman put-wal quickstart --file %p': each finished WAL segment is copied");
  explain("durably (fsync) into barman-ts's incoming/ directory before PostgreSQL is told it is archived.");
  const config = join(work, 'barman.conf');
  const pg = await startPostgres({
    version: 15,
    archiveCommand: `${process.execPath} ${BARMAN_BIN} -c ${config} -q put-wal quickstart --file %p`,
  });
  try {
    const [version] = await pg.query<{ server_version: string }>('show server_version');
    explain(`PostgreSQL ${version!.server_version} is running on port ${pg.port} (data in ${pg.dataDir})`);

    step('Writing a barman-ts configuration for it');
    const text = `[barman]
barman_user = ${osUser}
barman_home = ${home}
log_file = ${work}/log/barman.log
compression = gzip

[quickstart]
description = "Throwaway PostgreSQL 15 (quickstart)"
conninfo = ${pg.conninfo}
backup_method = local-rsync
archiver = on
retention_policy = REDUNDANCY 2
`;
    writeFileSync(config, text);
    chmodSync(config, 0o644);
    explain(`${config}:`);
    for (const line of text.trimEnd().split('\n')) explain(`  ${line}`);

    step('barman list-server: the configured servers');
    await barman(config, ['list-server']);

    step('barman show-server quickstart: every option as barman-ts resolved it');
    explain('(defaults filled in, directories derived from barman_home, passwords redacted; selected lines)');
    const shown = await runBarman(['-c', config, 'show-server', 'quickstart']);
    if (shown.exitCode !== 0) throw new Error(shown.stderr);
    const interesting =
      /^\t(backup_method|backup_directory|incoming_wals_directory|wals_directory|conninfo|compression|retention_policy|disabled|msg_list):/;
    for (const line of shown.stdout
      .split('\n')
      .filter((l) => l.startsWith('Server') || interesting.test(l))) {
      console.log(`    | ${line}`);
    }

    step('Writing data, then archiving its WAL: archive_command delivers segments to barman-ts');
    await pg.query('create table quickstart (id int, note text)');
    await pg.query("insert into quickstart values (1, 'written before the backup')");
    explain('barman switch-wal --force --archive closes the current segment and waits until it is archived');
    explain('(put-wal copied it into incoming/; archive-wal checks it belongs to this cluster, compresses,');
    explain('fsyncs, catalogues it in xlog.db and only then removes it from incoming/).');
    await barman(config, ['switch-wal', '--force', '--archive', 'quickstart']);

    step('barman check quickstart: is everything in place for a backup?');
    await barman(config, ['check', 'quickstart']);

    step('barman backup --wait quickstart: a full backup (local-rsync: parallel native copies)');
    await barman(config, ['backup', '--wait', 'quickstart']);
    await barman(config, ['list-backup', 'quickstart']);

    step('Two more commits, one second apart: we will recover to the moment between them');
    await pg.query("insert into quickstart values (2, 'committed before the recovery target')");
    const [mark] = await pg.query<{ t: string }>(
      "select to_char(clock_timestamp() at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00:00' as t",
    );
    const target = mark!.t;
    explain(`recovery target time: ${target}`);
    await new Promise((resolve) => setTimeout(resolve, 1200));
    await pg.query("insert into quickstart values (3, 'committed after the target: must not come back')");
    await barman(config, ['switch-wal', '--force', '--archive', 'quickstart']);

    step(`barman recover --target-time '${target}': point-in-time recovery into a new directory`);
    explain('The plan is computed first (which WAL files, which settings), then the backup is copied,');
    explain('the WAL files it needs are decompressed next to it, and recovery settings are written.');
    const recovered = join(work, 'recovered');
    await barman(config, [
      'recover',
      'quickstart',
      'latest',
      recovered,
      '--target-time',
      target,
      '--target-action',
      'promote',
    ]);

    step('Starting PostgreSQL on the recovered directory (another port) and reading the data back');
    const copy = await startPostgres({ version: 15, existingDataDir: recovered });
    try {
      const deadline = Date.now() + 60_000;
      while ((await copy.query<{ r: boolean }>('select pg_is_in_recovery() as r'))[0]!.r) {
        if (Date.now() > deadline) throw new Error('the recovered server did not finish recovery in 60 s');
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const rows = await copy.query<{ id: number; note: string }>(
        'select id, note from quickstart order by id',
      );
      for (const row of rows) explain(`| ${row.id} | ${row.note}`);
      if (rows.map((row) => row.id).join(',') !== '1,2') {
        throw new Error(`expected rows 1 and 2 after recovery, found ${rows.map((row) => row.id).join(',')}`);
      }
      explain('Exactly the rows committed before the target: row 3 was committed after it.');
    } finally {
      await copy.stop();
    }

    step('Done');
    explain('The clusters and every file of this run are removed now.');
  } finally {
    await pg.stop();
  }
}

quickstart().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`\nquickstart failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
