/**
 * `barman check` for one server: Barman 3.4's checks in Barman's order, with its names and
 * hints, under `check_timeout` for the whole server. Used by the `check` command (all results)
 * and meant for the pre-backup check (critical results only, see isCritical).
 *
 * Order: WAL archive and queues; PostgreSQL (connection, privileges, streaming, wal_level,
 * replication slot, standby); with wal_streaming_conninfo / wal_conninfo, the same checks on those
 * connections (`... (WAL streaming)`, see wal-streaming-checks.ts); directories; retention policy; backup age and size; WAL age and
 * size; compression; failed backups; minimum redundancy; the backup method's checks (ssh or local
 * PGDATA, backup strategy, pg_basebackup); configuration; systemid coherence; the streaming then
 * the file archiver; archiver errors.
 */
import { constants } from 'node:fs';
import { access, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { CatalogBackup } from '../../../catalog/backups.js';
import { statusOf } from '../../../catalog/backups.js';
import type { ServerLayout } from '../../../catalog/layout.js';
import { serverLayout } from '../../../catalog/layout.js';
import type { ServerConfig, ServerEntry } from '../../../config/index.js';
import { formatProblem } from '../../../config/index.js';
import { describeError } from '../../../errors/index.js';
import { lockHolder, serverLockPath } from '../../../locks/index.js';
import type { Logger } from '../../../log/index.js';
import { prettySize } from '../../../output/format.js';
import type { Reporter } from '../../../output/reporter.js';
import { humanDuration } from '../../../output/time.js';
import { runProgramUnchecked } from '../../../process/index.js';
import { wantedCompression } from '../../../wal/archiver.js';
import { compressBuffer, decompressBuffer } from '../../../transfer/compression/index.js';
import { customWalCompression } from '../../../wal/custom-compression.js';
import type { ServerCatalog } from '../backup-catalog.js';
import { loadServerCatalog, walAfter } from '../backup-catalog.js';
import { hasCloudCatalog, loadCloudServerCatalog } from '../cloud-catalog.js';
import {
  findPgTool,
  toolCompatible,
  toolSearchPath,
  compareVersions,
} from '../../../process/postgres-tools.js';
import type { PgTool } from '../../../process/postgres-tools.js';
import type { PostgresProbe, PrimaryProbe, StreamingProbe } from './probe.js';
import {
  majorVersion,
  MINIMAL_VERSION,
  probePostgres,
  probePrimary,
  probeStreaming,
  usesStreamingConnection,
  versionText,
} from './probe.js';
import type { CheckResult } from './results.js';
import { CheckCollector } from './results.js';
import { runCloudWalChecks } from './cloud-checks.js';
import { DIRECTORY_PERMISSIONS_CHECK, describeOpenDirectories, openDirectories } from './permissions.js';
import { identityCheck, replicationSlotCheck, runWalStreamingChecks } from './wal-streaming-checks.js';
import { hasWalConnections } from '../wal-connections.js';

export interface ServerCheckOptions {
  log: Logger;
  /** Receives warnings about an unreadable catalogue (backup.info, xlog.db lines). */
  report: Reporter;
  /** Seconds for the whole check of the server; 0 = no limit. */
  timeoutSeconds: number;
  nowMs?: number;
}

export interface ServerCheckReport {
  server: string;
  active: boolean;
  disabled: boolean;
  results: CheckResult[];
}

export const TIMEOUT_CHECK = 'check timeout';

/** Runs every check of `entry`; never throws (a check that breaks is reported as failed). */
export async function runServerChecks(
  entry: ServerEntry,
  options: ServerCheckOptions,
): Promise<ServerCheckReport> {
  const log = options.log.child({ server: entry.name });
  const collector = new CheckCollector(entry.name, log);
  const controller = new AbortController();
  const run = new CheckRun(entry, collector, controller.signal, log, options);
  const work = run.all();
  let timer: NodeJS.Timeout | undefined;
  try {
    if (options.timeoutSeconds > 0) {
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), options.timeoutSeconds * 1000);
      });
      if ((await Promise.race([work.then(() => 'done' as const), timedOut])) === 'timeout') {
        log.debug(`Check command timed out executing '${collector.running ?? 'unknown'}' check`);
        collector.close({ name: TIMEOUT_CHECK, ok: false, hint: 'barman check command timed out' });
        controller.abort();
        // The interrupted check settles in the background; its results are dropped.
        work.catch(() => undefined);
      }
    } else {
      await work;
    }
  } finally {
    clearTimeout(timer);
  }
  collector.close();
  return {
    server: entry.name,
    active: entry.config.active !== false,
    disabled: entry.disabled,
    results: collector.results,
  };
}

const DONE_STATUSES = new Set(['DONE', 'WAITING_FOR_WALS']);
const NOT_EMPTY_STATUSES = new Set(['STARTED', 'WAITING_FOR_WALS', 'DONE', 'SYNCING', 'FAILED']);

class CheckRun {
  private readonly config: ServerConfig;
  private readonly layout: ServerLayout | null;
  private readonly nowMs: number;
  private catalogPromise: Promise<ServerCatalog | null> | undefined;
  private pgPromise: Promise<PostgresProbe> | undefined;
  private streamingPromise: Promise<StreamingProbe | null> | undefined;
  private readonly searchPath: string;

  constructor(
    private readonly entry: ServerEntry,
    private readonly c: CheckCollector,
    private readonly signal: AbortSignal,
    private readonly log: Logger,
    private readonly options: ServerCheckOptions,
  ) {
    this.config = entry.config;
    this.nowMs = options.nowMs ?? Date.now();
    this.searchPath = toolSearchPath(entry.config.path_prefix);
    let layout: ServerLayout | null = null;
    try {
      layout = serverLayout(entry.config);
    } catch (error) {
      // Object-storage catalogues (local-to-cloud): the local catalogue checks do not apply.
      log.debug(`no local catalogue: ${describeError(error)}`);
    }
    this.layout = layout;
  }

  async all(): Promise<void> {
    await this.step(() => this.walArchive());
    if (this.config.wals_directory.kind === 's3')
      await this.step(() => runCloudWalChecks(this.config, this.c, this.signal));
    await this.step(() => this.walQueue('incoming'));
    await this.step(() => this.walQueue('streaming'));
    await this.step(() => this.postgres());
    if (hasWalConnections(this.config))
      await this.step(() =>
        runWalStreamingChecks(this.config, this.c, { log: this.log, signal: this.signal }),
      );
    await this.step(() => this.directories());
    await this.step(() => this.directoryPermissions());
    await this.step(() => this.retentionPolicy());
    await this.step(() => this.backupValidity());
    await this.step(() => this.walValidity());
    await this.step(() => this.compression());
    await this.step(() => this.backupCounts());
    await this.step(() => this.backupMethod());
    await this.step(() => this.configuration());
    await this.step(() => this.identity());
    if (this.config.streaming_archiver) await this.step(() => this.streamingArchiver());
    if (this.config.archiver) await this.step(() => this.fileArchiver());
    await this.step(() => this.archiverErrors());
  }

  /** A check that throws is reported as failed under the name it was running, never crashes check. */
  private async step(check: () => Promise<void>): Promise<void> {
    if (this.c.isClosed) return;
    try {
      await check();
    } catch (error) {
      if (this.c.isClosed) return;
      const name = this.c.running ?? 'check';
      this.log.error(`check '${name}' raised an error`, { error: describeError(error) });
      this.c.add(name, false, describeError(error));
    }
  }

  // ------------------------------------------------------------------------------------------
  // Lazily gathered facts

  private catalog(): Promise<ServerCatalog | null> {
    // A local-to-cloud server's catalogue is read from the bucket (backup.info objects, WAL
    // listing): when the bucket cannot be listed, one check says why and the checks that need
    // the catalogue are left out.
    this.catalogPromise ??= this.layout
      ? loadServerCatalog(this.config, this.options.report, this.nowMs)
      : hasCloudCatalog(this.config)
        ? loadCloudServerCatalog(this.config, this.options.report, this.nowMs).catch((error: unknown) => {
            this.c.add('cloud backup catalogue', false, describeError(error));
            return null;
          })
        : Promise.resolve(null);
    return this.catalogPromise;
  }

  private pg(): Promise<PostgresProbe> {
    this.pgPromise ??= probePostgres(this.config, { log: this.log, signal: this.signal });
    return this.pgPromise;
  }

  private streaming(): Promise<StreamingProbe | null> {
    this.streamingPromise ??= usesStreamingConnection(this.config)
      ? probeStreaming(this.config, { log: this.log, signal: this.signal })
      : Promise.resolve(null);
    return this.streamingPromise;
  }

  /** The server version as the replication connection reports it, else the normal connection's. */
  private async serverVersion(): Promise<number | null> {
    const streaming = await this.streaming();
    return streaming?.identity?.serverVersion || (await this.pg()).serverVersion;
  }

  private async lastBackup(): Promise<CatalogBackup | null> {
    const catalog = await this.catalog();
    return catalog?.backups.filter((backup) => DONE_STATUSES.has(statusOf(backup))).at(-1) ?? null;
  }

  // ------------------------------------------------------------------------------------------
  // WAL archive and the incoming/streaming queues (reported only when failing)

  private async walArchive(): Promise<void> {
    if (!this.layout) return;
    this.c.start('WAL archive');
    const size = await stat(this.layout.xlogDbFile).then(
      (info) => info.size,
      () => 0,
    );
    if (size > 0) return;
    const catalog = await this.catalog();
    if (catalog?.backups.some((backup) => statusOf(backup) === 'WAITING_FOR_WALS')) return;
    this.c.add('WAL archive', false, 'please make sure WAL shipping is setup');
  }

  private async walQueue(kind: 'incoming' | 'streaming'): Promise<void> {
    const directory =
      kind === 'incoming' ? this.config.incoming_wals_directory : this.config.streaming_wals_directory;
    const archiver = kind === 'incoming' ? 'archiver' : 'streaming_archiver';
    const enabled = kind === 'incoming' ? this.config.archiver : this.config.streaming_archiver;
    let names: string[];
    try {
      names = await readdir(directory);
    } catch {
      names = [];
    }
    // Like a shell glob: hidden files and temp files do not count.
    let count = names.filter((name) => !name.startsWith('.') && !name.endsWith('.tmp')).length;
    // pg_receivewal always keeps its current .partial file there.
    if (kind === 'streaming') count -= 1;
    this.c.start(`empty ${kind} directory`);
    if (!enabled) {
      if (count > 0) {
        this.c.add(`empty ${kind} directory`, false, `'${directory}' must be empty when ${archiver}=off`);
      }
      return;
    }
    const max = this.config.max_incoming_wals_queue;
    if (max === null || max === undefined) return;
    this.c.start(`${kind} WALs directory`);
    if (count > max) {
      this.c.add(`${kind} WALs directory`, false, `there are too many WALs in queue: ${count}, max ${max}`);
    }
  }

  // ------------------------------------------------------------------------------------------
  // PostgreSQL

  private async postgres(): Promise<void> {
    this.c.start('PostgreSQL');
    const pg = await this.pg();
    if (pg.serverVersion === null) {
      this.c.add('PostgreSQL', false, pg.error);
      return;
    }
    if (pg.serverVersion < MINIMAL_VERSION) {
      this.c.add(
        'PostgreSQL',
        false,
        `unsupported version: PostgreSQL server is too old (${pg.versionText} < ${versionText(MINIMAL_VERSION)})`,
      );
      return;
    }
    this.c.add('PostgreSQL', true);

    if (pg.hasBackupPrivileges !== null) {
      this.c.start('superuser or standard user with backup privileges');
      if (pg.hasBackupPrivileges) this.c.add('superuser or standard user with backup privileges', true);
      else
        this.c.add(
          'no access to backup functions',
          false,
          'privileges for PostgreSQL backup functions are required (see documentation)',
        );
    }

    if (usesStreamingConnection(this.config)) {
      this.c.start('PostgreSQL streaming');
      const streaming = (await this.streaming())!;
      this.c.add('PostgreSQL streaming', streaming.identity !== null, streaming.error);
    }

    if (pg.walLevel !== null) {
      this.c.start('wal_level');
      if (pg.walLevel !== 'minimal') this.c.add('wal_level', true);
      else this.c.add('wal_level', false, "please set it to a higher level than 'minimal'");
    }

    // With WAL connections of its own, the slot is checked there (runWalStreamingChecks).
    if (this.config.slot_name && !hasWalConnections(this.config))
      replicationSlotCheck(this.c, this.config, pg);
    if (this.config.primary_conninfo) {
      const primary = await probePrimary(this.config.primary_conninfo, {
        log: this.log,
        signal: this.signal,
      });
      this.standby(pg, primary);
    }
  }

  private standby(pg: PostgresProbe, primary: PrimaryProbe): void {
    this.c.start('PostgreSQL server is standby');
    if (pg.isInRecovery) this.c.add('PostgreSQL server is standby', true);
    else
      this.c.add(
        'PostgreSQL server is standby',
        false,
        'conninfo should point to a standby server if primary_conninfo is set',
      );
    this.c.start('Primary server is not a standby');
    if (primary.isInRecovery === false) this.c.add('Primary server is not a standby', true);
    else
      this.c.add(
        'Primary server is not a standby',
        false,
        primary.error ?? 'primary_conninfo should point to a primary server, not a standby',
      );
    this.c.start('Primary and standby have same system ID');
    if (pg.systemid !== null && pg.systemid === primary.systemid)
      this.c.add('Primary and standby have same system ID', true);
    else
      this.c.add(
        'Primary and standby have same system ID',
        false,
        'primary_conninfo and conninfo should point to primary and standby servers which share the same system identifier',
      );
  }

  // ------------------------------------------------------------------------------------------
  // Catalogue

  /** The server's local directories (object-storage ones left out). */
  private serverDirectories(): string[] {
    const config = this.config;
    return [
      config.backup_directory,
      config.basebackups_directory.kind === 'posix' ? config.basebackups_directory.path : null,
      config.wals_directory.kind === 'posix' ? config.wals_directory.path : null,
      config.incoming_wals_directory,
      config.streaming_wals_directory,
      config.errors_directory,
      config.xlogdb_directory,
    ].filter((directory): directory is string => directory !== null);
  }

  /**
   * The directories holding copies of the database, for `directory permissions`. Left out:
   * backup_directory, a container (its data lives in the directories below, each checked with
   * its parents), and incoming_wals_directory, the drop box a local archive_command running as
   * postgres has to write into (archive-wal moves each file out of it, 0600).
   */
  private dataDirectories(): string[] {
    const { backup_directory, incoming_wals_directory } = this.config;
    return this.serverDirectories().filter(
      (directory) => directory !== backup_directory && directory !== incoming_wals_directory,
    );
  }

  /** Creates the server's directories when missing, as Barman's check does. */
  private async directories(): Promise<void> {
    this.c.start('directories');
    if (this.entry.disabled) return;
    for (const directory of this.serverDirectories()) {
      try {
        await mkdir(directory, { recursive: true });
        if (!(await stat(directory)).isDirectory())
          throw Object.assign(new Error('Not a directory'), { path: directory });
      } catch (error) {
        this.c.add(
          'directories',
          false,
          `${(error as NodeJS.ErrnoException).path ?? directory}: ${strerror(error)}`,
        );
        return;
      }
    }
    this.c.add('directories', true);
  }

  /** barman-ts: a server directory other users can reach fails (shown only then, see permissions.ts). */
  private async directoryPermissions(): Promise<void> {
    this.c.start(DIRECTORY_PERMISSIONS_CHECK);
    if (this.entry.disabled) return;
    const open = await openDirectories(this.dataDirectories());
    if (open.length > 0) this.c.add(DIRECTORY_PERMISSIONS_CHECK, false, describeOpenDirectories(open));
  }

  private retentionPolicy(): Promise<void> {
    this.c.start('retention policy settings');
    const problem = this.entry.problems.find(
      (candidate) => candidate.severity === 'error' && candidate.option === 'retention_policy',
    );
    if (problem) this.c.add('retention policy settings', false, problem.message);
    else this.c.add('retention policy settings', true);
    return Promise.resolve();
  }

  private async backupValidity(): Promise<void> {
    if (!(await this.catalog())) return;
    this.c.start('backup maximum age');
    const last = await this.lastBackup();
    const maxAge = this.config.last_backup_maximum_age;
    if (maxAge) {
      const end = last?.info?.end_time ?? null;
      let ok = false;
      let age = 'No available backups';
      if (last && end) {
        const seconds = (this.nowMs - end.epochMs) / 1000;
        ok = seconds <= maxAge.seconds;
        age = humanDuration(Math.abs(seconds));
      } else if (last) {
        age = 'unknown (the backup has no end time)';
      }
      this.c.add(
        'backup maximum age',
        ok,
        `interval provided: ${humanDuration(maxAge.seconds)}, latest backup age: ${age}`,
      );
    } else {
      this.c.add('backup maximum age', true, 'no last_backup_maximum_age provided');
    }

    this.c.start('backup minimum size');
    const size = last?.info?.size ?? 0;
    const minimum = this.config.last_backup_minimum_size;
    if (minimum !== null && minimum !== undefined) {
      const ok = last !== null && size >= minimum;
      this.c.add(
        'backup minimum size',
        ok,
        `last backup size ${prettySize(size)} ${ok ? '>' : '<'} ${prettySize(minimum)} minimum`,
        { perfdata: size },
      );
    } else {
      this.c.add('backup minimum size', true, prettySize(size), { perfdata: size });
    }
  }

  private async walValidity(): Promise<void> {
    if (!(await this.catalog())) return;
    this.c.start('wal maximum age');
    const catalog = (await this.catalog())!;
    const last = await this.lastBackup();
    const maxAge = this.config.last_wal_maximum_age;
    const begin = last?.info?.begin_wal ?? null;
    // WAL from the backup's first segment to the newest archived on its timeline.
    const wal = begin ? catalog.usage.range(begin, null) : null;
    const walSize = last ? walAfter(catalog, last).bytes : 0;
    if (maxAge) {
      if (!wal || wal.lastMtime === null) {
        this.c.add('wal maximum age', false, 'No WAL files archived for last backup');
      } else {
        const seconds = this.nowMs / 1000 - wal.lastMtime;
        this.c.add(
          'wal maximum age',
          seconds <= maxAge.seconds,
          `interval provided: ${humanDuration(maxAge.seconds)}, latest wal age: ${humanDuration(Math.abs(seconds))}`,
        );
      }
    } else {
      this.c.add('wal maximum age', true, 'no last_wal_maximum_age provided');
    }
    this.c.start('wal size');
    this.c.add('wal size', true, prettySize(walSize), { perfdata: walSize });
  }

  /** The configured WAL compression really works: a sample goes through it and back. */
  private async compression(): Promise<void> {
    this.c.start('compression settings');
    const name = wantedCompression(this.config);
    if (name === null) {
      this.c.add('compression settings', true);
      return;
    }
    const sample = Buffer.from('barman check: compression test\n'.repeat(64));
    const custom = customWalCompression(this.config);
    try {
      const compressed = await compressBuffer(name, sample, { level: this.config.compression_level, custom });
      const restored = await decompressBuffer(name, compressed, { custom });
      if (!restored.equals(sample))
        throw new Error(`${name} decompression does not give back the original data`);
      this.c.add('compression settings', true);
    } catch (error) {
      this.c.add('compression settings', false, describeError(error));
    }
  }

  private async backupCounts(): Promise<void> {
    const catalog = await this.catalog();
    if (!catalog) return;
    this.c.start('failed backups');
    const failed = catalog.backups.filter((backup) => statusOf(backup) === 'FAILED').length;
    // A STARTED (or EMPTY) backup while no backup process holds the lock was interrupted.
    const backupRunning =
      lockHolder(serverLockPath(catalog.layout.lockDirectory, this.config.name, 'backup')) !== null;
    const interrupted = backupRunning
      ? 0
      : catalog.backups.filter((backup) => ['STARTED', 'EMPTY'].includes(statusOf(backup))).length;
    const hint =
      `there are ${failed} failed backups` +
      (interrupted > 0 ? `, ${interrupted} interrupted backups (the next backup marks them FAILED)` : '');
    this.c.add('failed backups', failed === 0 && interrupted === 0, hint);

    this.c.start('minimum redundancy requirements');
    const done = catalog.backups.filter((backup) => statusOf(backup) === 'DONE').length;
    const minimum = this.config.minimum_redundancy;
    this.c.add(
      'minimum redundancy requirements',
      done >= minimum,
      `have ${done} backups, expected at least ${minimum}`,
    );
  }

  // ------------------------------------------------------------------------------------------
  // Backup method

  private async backupMethod(): Promise<void> {
    switch (this.config.backup_method) {
      case 'postgres':
        await this.pgBasebackup();
        return;
      case 'rsync':
        await this.ssh();
        await this.backupStrategy();
        return;
      case 'local-rsync':
      case 'local-to-cloud':
        await this.localPgdata();
        await this.backupStrategy();
        return;
      default:
        return;
    }
  }

  private async pgBasebackup(): Promise<void> {
    this.c.start('pg_basebackup');
    const tool = await findPgTool(['pg_basebackup'], this.searchPath, this.signal);
    this.c.add('pg_basebackup', tool !== null);

    this.c.start('pg_basebackup compatible');
    const version = await this.serverVersion();
    this.toolCompatibility('pg_basebackup compatible', 'pg_basebackup', tool, version);

    const pg = await this.pg();
    if (pg.serverVersion === null) return; // reported by the PostgreSQL check
    this.c.start('pg_basebackup supports tablespaces mapping');
    const mapping = tool?.majorVersion ? compareVersions(tool.majorVersion, '9.4') >= 0 : false;
    const hint = 'pg_basebackup 9.4 or higher is required for tablespaces support';
    if (mapping) this.c.add('pg_basebackup supports tablespaces mapping', true);
    else if ((pg.tablespaces ?? []).length > 0)
      this.c.add('pg_basebackup supports tablespaces mapping', false, hint);
    else this.c.add('pg_basebackup supports tablespaces mapping', true, hint);
  }

  private toolCompatibility(
    check: string,
    program: string,
    tool: PgTool | null,
    server: number | null,
  ): void {
    const ok = Boolean(
      tool?.majorVersion && server && toolCompatible(majorVersion(server), tool.majorVersion),
    );
    this.c.add(
      check,
      ok,
      ok
        ? null
        : `PostgreSQL version: ${server ? versionText(server) : 'Unknown'}, ${program} version: ${tool?.fullVersion ?? 'Unknown'}`,
    );
  }

  /** `ssh_command` is shell (Barman runs it through the shell): run it with `true` as the remote command. */
  private async ssh(): Promise<void> {
    this.c.start('ssh');
    const sshCommand = this.config.ssh_command;
    if (!sshCommand) {
      this.c.add('ssh', false, 'No ssh command provided');
      return;
    }
    const result = await this.remote(sshCommand, 'true');
    if (result.error !== null) {
      this.c.add('ssh', false, result.error);
      return;
    }
    this.c.add('ssh', true, 'PostgreSQL server');
    if (result.stdout.length > 0) {
      this.c.start('ssh output clean');
      this.c.add(
        'ssh output clean',
        false,
        'the configured ssh_command must not add anything to the remote command output',
      );
    }
    // SSH works but PostgreSQL does not: a backup_label left in PGDATA may be why.
    const pg = await this.pg();
    if (pg.serverVersion !== null) return;
    const catalog = await this.catalog();
    const last = catalog?.backups.filter((backup) => NOT_EMPTY_STATUSES.has(statusOf(backup))).at(-1);
    const pgdata = last?.info?.pgdata;
    if (!pgdata) return;
    this.c.start('backup_label');
    const label = await this.remote(sshCommand, `test -e ${shellQuote(join(pgdata, 'backup_label'))}`);
    if (label.error === null) {
      this.c.add(
        'backup_label',
        false,
        "Check that the PostgreSQL server is up and no 'backup_label' file is in PGDATA.",
      );
    }
  }

  private async remote(
    sshCommand: string,
    command: string,
  ): Promise<{ stdout: string; error: string | null }> {
    try {
      const run = await runProgramUnchecked('/bin/sh', ['-c', `${sshCommand} ${command}`], {
        env: { ...process.env, PATH: this.searchPath },
        input: '',
        signal: this.signal,
      });
      if (run.exitCode !== 0) {
        this.log.debug(`ssh check: exit code ${run.exitCode}`, { stderr: run.stderr.slice(-2000) });
        return {
          stdout: run.stdout,
          error: `Connection failed using '${sshCommand}' return code ${run.exitCode}`,
        };
      }
      return { stdout: run.stdout, error: null };
    } catch (error) {
      this.log.debug(`ssh check: ${describeError(error)}`);
      return { stdout: '', error: `Unable to execute ${sshCommand}` };
    }
  }

  /** local-rsync reads PGDATA directly, as barman_user. */
  private async localPgdata(): Promise<void> {
    const pg = await this.pg();
    if (pg.dataDirectory === null) return; // unknown without a connection (or the privilege)
    this.c.start('local PGDATA');
    try {
      if (!(await stat(pg.dataDirectory)).isDirectory())
        throw new Error('A file with the same name exists, but is not a directory');
      await access(pg.dataDirectory, constants.R_OK | constants.X_OK);
      this.c.add('local PGDATA', true, 'Access to local PGDATA');
    } catch (error) {
      this.c.add('local PGDATA', false, `cannot read '${pg.dataDirectory}': ${strerror(error)}`);
    }
  }

  private async backupStrategy(): Promise<void> {
    const pg = await this.pg();
    if (this.config.backup_options.includes('exclusive_backup')) {
      this.c.start('not in recovery');
      if (pg.isInRecovery !== null) {
        if (pg.isInRecovery)
          this.c.add('not in recovery', false, 'cannot perform exclusive backup on a standby');
        else this.c.add('not in recovery', true);
      }
      this.c.start('exclusive backup supported');
      if (pg.serverVersion === null)
        this.c.add('exclusive backup supported', false, 'unable to determine postgres version');
      else if (pg.serverVersion < 150000) this.c.add('exclusive backup supported', true);
      else
        this.c.add(
          'exclusive backup supported',
          false,
          `exclusive backups not supported on PostgreSQL ${pg.majorVersion}: set backup_options = concurrent_backup`,
        );
      return;
    }
    this.c.start('postgres minimal version');
    if (pg.serverVersion !== null && pg.serverVersion < MINIMAL_VERSION) {
      this.c.add(
        'postgres minimal version',
        false,
        `unsupported PostgresSQL version ${pg.majorVersion}. Expecting ${majorVersion(MINIMAL_VERSION)} or above.`,
      );
    }
  }

  // ------------------------------------------------------------------------------------------
  // Configuration, identity, archivers

  private configuration(): Promise<void> {
    this.c.start('configuration');
    const errors = this.entry.problems.filter((problem) => problem.severity === 'error');
    if (errors.length > 0) this.c.add('configuration', false, null, { details: errors.map(formatProblem) });
    return Promise.resolve();
  }

  private async identity(): Promise<void> {
    await identityCheck(this.c, this.config, await this.streaming(), await this.pg());
  }

  private async streamingArchiver(): Promise<void> {
    this.c.start('pg_receivexlog');
    const tool = await findPgTool(['pg_receivewal', 'pg_receivexlog'], this.searchPath, this.signal);
    this.c.add('pg_receivexlog', tool !== null);
    this.c.start('pg_receivexlog compatible');
    this.toolCompatibility('pg_receivexlog compatible', 'pg_receivexlog', tool, await this.serverVersion());
    this.c.start('receive-wal running');
    const lock = serverLockPath(this.config.barman_lock_directory, this.config.name, 'receive-wal');
    if (lockHolder(lock) !== null) this.c.add('receive-wal running', true);
    else this.c.add('receive-wal running', false, 'See the Barman log file for more details');
  }

  private async fileArchiver(): Promise<void> {
    this.c.start('archive_mode');
    const pg = await this.pg();
    if (pg.archiveMode === null) return; // no connection: reported by the PostgreSQL check
    if (pg.archiveMode === 'on' || pg.archiveMode === 'always') this.c.add('archive_mode', true);
    else this.c.add('archive_mode', false, "please set it to 'on' or 'always'");

    this.c.start('archive_command');
    if (pg.archiveCommand && pg.archiveCommand !== '(disabled)') {
      this.c.add('archive_command', true);
      if (pg.archiver !== null) {
        this.c.start('continuous archiving');
        const archiver = pg.archiver;
        this.c.add(
          'continuous archiving',
          archiver.isArchiving,
          archiver.isArchiving || !archiver.lastFailedWal
            ? null
            : `last failed attempt: ${archiver.lastFailedWal}, failures: ${archiver.failedCount}`,
        );
      }
    } else {
      this.c.add('archive_command', false, 'please set it accordingly to documentation');
    }
  }

  private async archiverErrors(): Promise<void> {
    this.c.start('archiver errors');
    let names: string[] = [];
    try {
      names = await readdir(this.config.errors_directory);
    } catch {
      names = [];
    }
    this.c.add('archiver errors', names.length === 0, summariseErrorFiles(names));
  }
}

/** `duplicates: 2, unknown: 1`: errors/ files counted by kind, in order of first appearance. */
export function summariseErrorFiles(names: readonly string[]): string | null {
  if (names.length === 0) return null;
  const counters = new Map<string, number>();
  for (const name of names) {
    const kind = name.endsWith('.error')
      ? 'not relevant'
      : name.endsWith('.duplicate')
        ? 'duplicates'
        : name.endsWith('.unknown')
          ? 'unknown'
          : 'unknown failure';
    counters.set(kind, (counters.get(kind) ?? 0) + 1);
  }
  return [...counters].map(([kind, count]) => `${kind}: ${count}`).join(', ');
}

/** C's strerror() text of a Node error: `EACCES: permission denied, mkdir '/x'` -> `Permission denied`. */
function strerror(error: unknown): string {
  const message = describeError(error)
    .replace(/^E[A-Z]+: /, '')
    .replace(/, \w+ '.*'$/, '');
  return message.charAt(0).toUpperCase() + message.slice(1);
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, "'\\''")}'`;
}
