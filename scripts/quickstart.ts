/**
 * `npm run quickstart`: the main job of barman-ts on an embedded default, explained as it runs.
 * A throwaway PostgreSQL 15 cluster is created in a temporary directory, barman-ts is configured
 * for it, and the configuration is checked. Everything is removed at the end.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
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

    step('Writing data and switching WAL segments: archive_command delivers them to barman-ts');
    await pg.query('create table quickstart (id int, note text)');
    const segments: string[] = [];
    for (const note of ['hello from the quickstart', 'a second row']) {
      await pg.query('insert into quickstart values ($1, $2)', [segments.length + 1, note]);
      const [segment] = await pg.query<{ name: string }>('select pg_walfile_name(pg_switch_wal()) as name');
      segments.push(segment!.name);
      if (!(await waitForFile(join(incoming, segment!.name), 30_000))) {
        throw new Error(`WAL segment ${segment!.name} did not reach ${incoming}`);
      }
      explain(`segment ${segment!.name} is in incoming/`);
    }

    step('barman archive-wal quickstart: verify, compress (gzip) and catalogue the segments');
    explain(
      'Each file is checked to belong to this cluster (system identifier in its header), compressed on',
    );
    explain(
      'worker threads, fsynced, renamed into wals/, recorded in xlog.db, and only then removed from incoming/.',
    );
    await barman(config, ['archive-wal', 'quickstart']);
    const [system] = await pg.query<{ id: string }>(
      'select system_identifier::text as id from pg_control_system()',
    );
    explain(`identity.json now records the cluster: system identifier ${system!.id}`);

    step('barman get-wal: what restore_command will use to read them back');
    const restored = join(work, 'restored');
    mkdirSync(restored, { recursive: true });
    await chownTo(restored, isRoot() ? osUser : undefined);
    await barman(config, ['get-wal', 'quickstart', segments[0]!, '-o', restored]);
    await barman(config, ['get-wal', 'quickstart', segments[0]!, '--peek', '5']);

    step('barman rebuild-xlogdb quickstart: the WAL catalogue can always be rebuilt from the archive');
    await barman(config, ['rebuild-xlogdb', 'quickstart']);

    step('Done');
    explain('The cluster and every file of this run are removed now.');
    explain('Next: barman-ts backs up and recovers this cluster as those commands land (see README).');
  } finally {
    await pg.stop();
  }
}

async function waitForFile(path: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(path)) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}

quickstart().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(`\nquickstart failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
