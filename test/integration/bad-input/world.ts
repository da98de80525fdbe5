/**
 * The world a bad-input case runs in, and what a case is. A world is a temp directory holding
 * a barman_home made from the Barman 3.4 catalogue of test/fixtures/barman-3.4 (plus WAL files
 * and small data directories, so get-wal and recover have something to read), a barman.conf and
 * room for recovery destinations. The template is built once; each case runs in its own copy.
 * Everything a case may not change (names, types, modes, owners, contents) is snapshotted
 * before and after the run and compared.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  cpSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { CompletedRun } from '../../harness/index.js';
import {
  currentUserName,
  ensureOsUser,
  fixtureBackupId,
  isRoot,
  makeTempDir,
  registerExitCleanup,
} from '../../harness/index.js';

const FIXTURE = fileURLToPath(new URL('../../../../test/fixtures/barman-3.4/catalog', import.meta.url));

/** The Barman 3.4 fixture's cluster: its WAL headers must carry this to be archived. */
export const SYSTEM_ID = BigInt(
  (JSON.parse(readFileSync(join(FIXTURE, 'pg/identity.json'), 'utf8')) as { systemid: string }).systemid,
);
export const SEGMENT_SIZE = 16 << 20;
/** Backups of server pg in the fixture, by their role in backups.tsv (regenerating it changes the ids). */
export const BACKUPS = {
  keptStandalone: fixtureBackupId('pg', 'done-tablespace-keep-standalone'),
  failed: fixtureBackupId('pg', 'failed'),
  named: fixtureBackupId('pg', 'done-named'),
};
/** The WAL segments archived (gzip) for server pg: the names in the fixture's xlog.db. */
export const ARCHIVED_WALS = readFileSync(join(FIXTURE, 'pg/wals/xlog.db'), 'utf8')
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => line.split('\t')[0]!);
const FIXTURE_TABLESPACE = '/tmp/barman-fixtures/pg/tbs1';

export interface World {
  /** The case's directory: everything below it is snapshotted (but `log/`). */
  root: string;
  /** barman_home. */
  home: string;
  /** Server pg's backup_directory. */
  pg: string;
  /** barman.conf. */
  config: string;
  /** A recovery destination that does not exist yet. */
  dest: string;
  /** The OS user barman-ts runs as (barman_user). */
  user: string;
  /** More `{name}` placeholders, from the table's setup (e.g. `{conninfo}` of its PostgreSQL). */
  values: Readonly<Record<string, string>>;
}

/** Lines added to barman.conf sections, or a whole replacement. */
export interface ConfigChange {
  barman?: string;
  pg?: string;
  pgr?: string;
  /** Appended at the end: more sections. */
  more?: string;
  /** The whole file instead of the default one. */
  replace?: string;
}

/** `+path` added, `-path` removed, `~path` changed (content, type, mode or owner). */
export type Change = string | RegExp;

export interface BadInputCase {
  /** Unique in its table; says what is wrong. */
  name: string;
  /** Arguments after `-c <config>`; `{root}`, `{home}`, `{pg}`, `{dest}` and `{config}` are replaced. */
  args: readonly string[];
  config?: ConfigChange;
  /** Makes the world bad, before the snapshot. */
  setup?: (world: World) => void | Promise<void>;
  /** Something running during the command (a lock holder, another command); stopped afterwards. */
  during?: (world: World) => Promise<() => Promise<void>>;
  stdin?: string | Buffer;
  /** No `-c <config>` before the arguments (the case gives its own, or none). */
  noConfigFlag?: boolean;
  /** The program run: barman (default) or one of the archive_command/restore_command clients. */
  program?: 'barman' | 'barman-wal-archive' | 'barman-wal-restore';
  env?: Record<string, string | undefined>;
  exit: number;
  /**
   * What stderr must say: substrings (placeholders replaced) or patterns. The message must name
   * the offending file, option or value: at least one is required.
   */
  stderr: ReadonlyArray<string | RegExp>;
  /**
   * What stdout must say, for commands that report on stdout (check's FAILED lines): with these,
   * the case need not print an ERROR: line.
   */
  stdout?: ReadonlyArray<string | RegExp>;
  /** What the command is meant to change (see Change); default: nothing. */
  changes?: readonly Change[];
  /** Checks of its own after the run. */
  after?: (world: World, run: CompletedRun) => void | Promise<void>;
}

export interface CaseTable {
  /** What the cases attack ("configuration", "catalogue files"). */
  title: string;
  cases: readonly BadInputCase[];
  /** Cases that must not run at the same time as others (e.g. they share a lock). */
  serial?: boolean;
  /** Starts what the cases share (a PostgreSQL); `values` fill `{name}` placeholders. */
  setup?: () => Promise<{ values: Record<string, string>; teardown: () => Promise<void> }>;
}

export function walName(timeline: number, segment: number, log = 0): string {
  const hex = (value: number) => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(log)}${hex(segment)}`;
}

/** A 16 MiB WAL segment of PostgreSQL 15 whose long page header names `systemId`. */
export function walSegment(
  name: string,
  options: { systemId?: bigint; size?: number; magic?: number } = {},
): Buffer {
  const timeline = Number.parseInt(name.slice(0, 8), 16);
  const segno =
    BigInt(Number.parseInt(name.slice(8, 16), 16)) * 256n + BigInt(Number.parseInt(name.slice(16), 16));
  const size = options.size ?? SEGMENT_SIZE;
  const segment = Buffer.alloc(size);
  if (size < 40) return segment;
  segment.writeUInt16LE(options.magic ?? 0xd110, 0); // XLOG_PAGE_MAGIC of PostgreSQL 15
  segment.writeUInt16LE(0x0002, 2); // XLP_LONG_HEADER
  segment.writeUInt32LE(timeline, 4);
  segment.writeBigUInt64LE(segno * BigInt(SEGMENT_SIZE), 8);
  segment.writeBigUInt64LE(options.systemId ?? SYSTEM_ID, 24);
  segment.writeUInt32LE(SEGMENT_SIZE, 32);
  segment.writeUInt32LE(8192, 36);
  return segment;
}

export function defaultConfig(world: World, change: ConfigChange = {}): string {
  if (change.replace !== undefined) return fill(change.replace, world);
  return fill(
    `[barman]
barman_user = ${world.user}
barman_home = {home}
log_file = {root}/log/barman.log
compression = gzip
${change.barman ?? ''}

[pg]
description = the Barman 3.4 fixture, postgres method
conninfo = host=/nonexistent dbname=postgres connect_timeout=2
backup_method = postgres
streaming_conninfo = host=/nonexistent connect_timeout=2
streaming_archiver = on
slot_name = barman
${change.pg ?? ''}

[pgr]
description = the Barman 3.4 fixture, local-rsync
conninfo = host=/nonexistent dbname=postgres connect_timeout=2
backup_method = local-rsync
archiver = on
${change.pgr ?? ''}
${change.more ?? ''}
`,
    world,
  );
}

/** Replaces `{root}`, `{home}`, `{pg}`, `{dest}`, `{config}` and `{user}` in `text`. */
export function fill(text: string, world: World): string {
  return text
    .replaceAll('{root}', world.root)
    .replaceAll('{home}', world.home)
    .replaceAll('{pg}', world.pg)
    .replaceAll('{dest}', world.dest)
    .replaceAll('{config}', world.config)
    .replaceAll('{user}', world.user)
    .replace(/\{(\w+)\}/g, (placeholder, name: string) => world.values[name] ?? placeholder);
}

/** The OS user barman-ts runs as: `barman` when the tests run as root. */
export async function barmanUser(): Promise<string> {
  return isRoot() ? (await ensureOsUser('barman')).name : currentUserName();
}

/**
 * The template world: the fixture's catalogue, gzip WAL segments for server pg (what its
 * xlog.db lists) and small data and tablespace directories for its two DONE backups.
 */
export async function buildTemplate(): Promise<string> {
  const template = await makeTempDir('bad-input-template');
  const home = join(template, 'home');
  mkdirSync(home);
  for (const server of ['pg', 'pgr']) cpSync(join(FIXTURE, server), join(home, server), { recursive: true });
  const pg = join(home, 'pg');
  for (const directory of ['incoming', 'streaming', 'errors'])
    mkdirSync(join(pg, directory), { recursive: true });
  const hashDir = join(pg, 'wals', '0000000100000000');
  mkdirSync(hashDir, { recursive: true });
  for (const name of ARCHIVED_WALS) {
    writeFileSync(join(hashDir, name), gzipSync(walSegment(name), { level: 1 }), { mode: 0o600 });
  }
  for (const id of [BACKUPS.keptStandalone, BACKUPS.named]) {
    const backup = join(pg, 'base', id);
    const files: Record<string, string | Buffer> = {
      'data/PG_VERSION': '15\n',
      'data/postgresql.conf': "shared_buffers = 128MB\narchive_command = 'cp %p /somewhere/%f'\n",
      'data/postgresql.auto.conf': '# Do not edit this file manually!\n',
      'data/global/pg_control': Buffer.alloc(8192, 7),
      'data/base/1/1259': Buffer.alloc(8192),
      '16384/PG_15_202209061/16385/16386': Buffer.alloc(8192, 1),
    };
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(backup, path, '..'), { recursive: true });
      writeFileSync(join(backup, path), content);
    }
  }
  for (const directory of ['incoming', 'streaming', 'errors'])
    mkdirSync(join(home, 'pgr', directory), { recursive: true });
  return template;
}

/** A fresh copy of the template for one case, owned by `user`, with its configuration. */
export function makeWorld(
  template: string,
  parent: string,
  name: string,
  user: string,
  change?: ConfigChange,
  values: Readonly<Record<string, string>> = {},
): World {
  const root = join(parent, name);
  execFileSync('cp', ['-a', template, root]);
  const home = join(root, 'home');
  const world: World = {
    root,
    home,
    pg: join(home, 'pg'),
    config: join(root, 'barman.conf'),
    dest: join(root, 'dest'),
    user,
    values,
  };
  // The fixture's tablespace lived in /tmp/barman-fixtures: recoveries go to the world instead.
  for (const server of ['pg', 'pgr']) {
    const base = join(home, server, 'base');
    for (const id of readdirSync(base)) {
      const info = join(base, id, 'backup.info');
      writeFileSync(info, readFileSync(info, 'utf8').replaceAll(FIXTURE_TABLESPACE, join(root, 'tbs1')));
    }
  }
  writeFileSync(world.config, defaultConfig(world, change));
  chmodSync(world.config, 0o644);
  mkdirSync(join(root, 'log'));
  if (isRoot() && user !== 'root') execFileSync('chown', ['-R', `${user}:`, root]);
  return world;
}

/** Every entry below `root` (but `log/`): type, mode, owner, size and a hash of the content. */
export function snapshot(root: string): Map<string, string> {
  const entries = new Map<string, string>();
  const walk = (directory: string) => {
    for (const name of readdirSync(directory).sort()) {
      const path = join(directory, name);
      const rel = relative(root, path);
      if (rel === 'log') continue;
      const stat = lstatSync(path);
      const owner = `${stat.mode.toString(8)} ${stat.uid}:${stat.gid}`;
      if (stat.isSymbolicLink()) entries.set(rel, `link ${owner} -> ${readlinkSync(path)}`);
      else if (stat.isDirectory()) {
        entries.set(rel, `dir ${owner}`);
        // A directory the snapshot cannot read is compared by its own entry only.
        try {
          walk(path);
        } catch {
          /* unreadable to root? only on odd file systems */
        }
      } else if (stat.isFile()) {
        const hash = createHash('sha1').update(readFileSync(path)).digest('hex');
        entries.set(rel, `file ${owner} ${stat.size} ${hash}`);
      } else entries.set(rel, `other ${owner}`);
    }
  };
  walk(root);
  return entries;
}

/** `+path`, `-path`, `~path` for what differs between two snapshots, sorted. */
export function differences(before: Map<string, string>, after: Map<string, string>): string[] {
  const changes: string[] = [];
  for (const [path, entry] of before) {
    if (!after.has(path)) changes.push(`-${path}`);
    else if (after.get(path) !== entry) changes.push(`~${path}`);
  }
  for (const path of after.keys()) if (!before.has(path)) changes.push(`+${path}`);
  return changes.sort();
}

/** Whether the observed changes are exactly the expected ones (each pattern matching one or more). */
export function unexpectedChanges(observed: readonly string[], expected: readonly Change[]): string[] {
  const problems: string[] = [];
  const matched = new Set<Change>();
  for (const change of observed) {
    const by = expected.find((wanted) =>
      typeof wanted === 'string' ? wanted === change : wanted.test(change),
    );
    if (by === undefined) problems.push(`unexpected change ${change}`);
    else matched.add(by);
  }
  for (const wanted of expected)
    if (!matched.has(wanted)) problems.push(`expected change ${String(wanted)} did not happen`);
  return problems;
}

/**
 * Mounts a 1 MiB tmpfs at `<root>/<name>`, filled up, for the full-disk cases (needs root);
 * returns the unmount, also registered to run at exit should the case fail.
 */
export function fullFileSystem(world: World, name = 'full'): () => void {
  const mount = join(world.root, name);
  mkdirSync(mount);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0777', 'tmpfs', mount]);
  const unmount = () => {
    try {
      execFileSync('umount', [mount]);
    } catch {
      /* not mounted any more */
    }
  };
  registerExitCleanup(unmount);
  try {
    writeFileSync(join(mount, 'filler'), Buffer.alloc(2 << 20));
  } catch {
    /* full, as wanted */
  }
  return unmount;
}
