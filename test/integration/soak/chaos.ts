/**
 * The soak's scheduler: barman-ts commands started at seeded random moments, several at once,
 * some killed with SIGKILL after a random share of their usual duration; archive_command's
 * put-wal processes and cron's receive-wal killed too. Every output is checked for crashes and
 * unexpected errors; what was killed while its backup was still copying is remembered.
 */
import type { FSWatcher } from 'node:fs';
import { existsSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CompletedRun, EventLog, SeededRandom } from '../../harness/index.js';
import { BARMAN_BIN, crashSign, findProcesses, killNow, startBarman } from '../../harness/index.js';
import { backupStatuses } from './archive.js';

type Action =
  | 'cron'
  | 'archive-wal'
  | 'backup'
  | 'delete'
  | 'switch-wal'
  | 'rebuild-xlogdb'
  | 'list-backup'
  | 'kill-put-wal'
  | 'kill-receive-wal';

const WEIGHTS: Record<Action, number> = {
  cron: 4,
  'archive-wal': 4,
  backup: 5,
  delete: 5,
  'switch-wal': 3,
  'rebuild-xlogdb': 1,
  'list-backup': 1,
  'kill-put-wal': 4,
  'kill-receive-wal': 1,
};

/** How often a command is killed, and a first guess of its duration (then: the observed mean). */
const KILL_CHANCE: Partial<Record<Action, number>> = {
  cron: 0.35,
  'archive-wal': 0.35,
  backup: 0.4,
  delete: 0.45,
  'switch-wal': 0.15,
  'rebuild-xlogdb': 0.3,
};
const FIRST_GUESS_MS: Partial<Record<Action, number>> = { backup: 8000, cron: 2000, 'switch-wal': 1500 };

/**
 * Errors that concurrency makes legitimate (the command refuses, says why, and changes nothing).
 * Anything else on stderr after `ERROR:` is an anomaly.
 */
const EXPECTED_ERRORS: Partial<Record<Action, RegExp[]>> = {
  backup: [
    /^ERROR: Another backup process is running$/,
    // A killed receive-wal fails the pre-backup checks until cron has restarted it and its
    // pg_receivewal holds the slot again (Barman's too).
    /^ERROR: Impossible to start the backup: (replication slot \(slot '\S+' not (active|initialised): is 'receive-wal' running\?\)(, )?)?(receive-wal running \(See the Barman log file for more details\))?\. Run 'barman check \S+' for details$/,
    // A backup waiting for its WAL may be deleted meanwhile.
    /^ERROR: backup \S+ of server \S+ was deleted (while it waited for its WAL files|or is being deleted: it cannot become DONE)$/,
  ],
  delete: [
    /^ERROR: (Cannot delete a running backup|Another process is holding the lock for backup|Unknown backup)/,
    /^ERROR: Cannot delete backup \S+ of server \S+$/, // kept, or minimum_redundancy
  ],
  'archive-wal': [/^ERROR: Another archive-wal process is already running/],
};

/** At most this many commands of ours at once (archive_command and receive-wal come on top). */
const MAX_RUNNING = 3;
const HUNG_MS = 240_000;

export interface ChaosOptions {
  random: SeededRandom;
  events: EventLog;
  config: string;
  home: string;
  servers: readonly string[];
}

export class Chaos {
  readonly anomalies: string[] = [];
  private readonly running = new Set<Promise<void>>();
  private readonly durations = new Map<Action, { total: number; count: number }>();
  private readonly counts = new Map<string, number>();
  private readonly midCopy = new Map<string, Set<string>>();
  /** Running commands of ours: pid -> how to kill it. */
  private readonly live = new Map<number, () => void>();
  private sequence = 0;

  constructor(private readonly options: ChaosOptions) {}

  async run(durationMs: number): Promise<void> {
    const { random } = this.options;
    const end = Date.now() + durationMs;
    while (Date.now() < end) {
      await sleep(random.int(200, 1500));
      if (this.running.size >= MAX_RUNNING) continue;
      const action = random.weighted(WEIGHTS);
      const work = this.perform(action).catch((error: unknown) =>
        this.anomaly(`${action}: the soak itself failed: ${(error as Error).stack ?? String(error)}`),
      );
      this.running.add(work);
      void work.finally(() => this.running.delete(work));
    }
  }

  /** Waits for every command still running. */
  /**
   * Waits for the commands still running, up to `graceMs`; then kills the rest, as any other kill
   * (a backup then still copying counts as killed mid-copy), so that the soak's length is bounded.
   */
  async settle(graceMs = 20_000): Promise<void> {
    const deadline = sleep(graceMs).then(() => 'late' as const);
    while (this.running.size > 0) {
      if ((await Promise.race([Promise.all([...this.running]), deadline])) !== 'late') continue;
      for (const stop of this.live.values()) stop();
      await Promise.all([...this.running]);
    }
  }

  /** Backups whose process was killed while their backup.info still said STARTED. */
  killedMidCopy(server: string): string[] {
    return [...(this.midCopy.get(server) ?? [])];
  }

  summary(): string {
    return [...this.counts].map(([key, count]) => `${key}: ${count}`).join(', ');
  }

  /** Crash signs anywhere, and `ERROR:` lines that `action`'s concurrency does not explain. */
  checkOutput(run: CompletedRun, label: string, action?: Action): void {
    const sign = crashSign(`${run.stdout}\n${run.stderr}`);
    if (sign) this.anomaly(`${label}: crash sign '${sign}':\n${run.stderr.slice(-3000)}`);
    const expected = (line: string) =>
      (action ? EXPECTED_ERRORS[action] : undefined)?.some((re) => re.test(line));
    for (const line of run.stderr.split('\n').filter((text) => text.startsWith('ERROR:'))) {
      if (!expected(line)) this.anomaly(`${label}: unexpected ${line}\n${run.stderr.slice(-3000)}`);
    }
    if (run.exitCode !== 0 && !run.stderr.split('\n').some(expected))
      this.anomaly(`${label}: exit ${run.exitCode ?? run.signal}\n${run.stderr.slice(-3000)}`);
  }

  private anomaly(message: string): void {
    this.anomalies.push(message);
    this.options.events.add(`ANOMALY ${message.split('\n')[0]}`);
  }

  private count(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }

  private async perform(action: Action): Promise<void> {
    const { random, servers } = this.options;
    const server = random.pick(servers);
    switch (action) {
      case 'kill-put-wal':
        return this.killExternal('put-wal', ['put-wal', this.options.config], random.int(0, 150));
      case 'kill-receive-wal':
        return this.killExternal('receive-wal', ['receive-wal', this.options.config], random.int(0, 500));
      case 'cron':
        return this.command(action, ['cron'], this.xlogDbTrigger(server));
      case 'archive-wal':
      case 'rebuild-xlogdb':
        return this.command(action, [action, server], this.xlogDbTrigger(server));
      case 'list-backup':
        return this.command(action, [action, server]);
      case 'switch-wal':
        return this.command(action, [
          'switch-wal',
          '--force',
          ...(random.chance(0.3) ? ['--archive', '--archive-timeout', '120'] : []),
          server,
        ]);
      case 'backup':
        return this.command(
          action,
          ['backup', ...(random.chance(0.5) ? ['--wait'] : []), server],
          this.backupStatusTrigger(server, random.pick(['WAITING_FOR_WALS', 'DONE'])),
        );
      case 'delete': {
        const ids = [...backupStatuses(join(this.options.home, server)).keys()];
        if (ids.length < 2) return;
        // Mostly old backups; now and then the newest, which may still be waiting for its WAL.
        const target = random.chance(0.2)
          ? 'oldest'
          : random.pick(random.chance(0.1) ? ids : ids.slice(0, -1));
        return this.command(action, ['delete', server, target], this.xlogDbTrigger(server));
      }
    }
  }

  /**
   * Kills one process whose argv has `parts` (waiting up to 5 s for one to appear). `parts` name
   * this soak's config file: other test files run beside it, with their own put-wal processes.
   */
  private async killExternal(what: string, parts: string[], delayMs: number): Promise<void> {
    for (const deadline = Date.now() + 5000; Date.now() < deadline; await sleep(20)) {
      const found = findProcesses(BARMAN_BIN, ...parts);
      if (found.length === 0) continue;
      await sleep(delayMs);
      const victim = this.options.random.pick(found);
      if (killNow(victim.pid)) {
        this.count(`killed ${what}`);
        this.options.events.add(`kill -9 ${what} pid ${victim.pid}: ${victim.argv.slice(2).join(' ')}`);
      }
      return;
    }
  }

  /**
   * Runs one command. When the dice say kill: half the time after a random share of its usual
   * duration, half the time (when `trigger` is given) at the moment that trigger aims at.
   */
  private async command(action: Action, args: string[], trigger?: KillTrigger): Promise<void> {
    const { random, events, config } = this.options;
    const label = `#${++this.sequence} ${args.join(' ')}`;
    const mean = this.meanDuration(action);
    const kill = random.chance(KILL_CHANCE[action] ?? 0);
    const aimed = kill && trigger !== undefined && random.chance(0.5);
    const killAfter = kill && !aimed ? random.int(100, Math.max(300, mean * 1.1)) : null;
    const plan = aimed
      ? ` (kill ${trigger.description})`
      : killAfter === null
        ? ''
        : ` (kill after ${killAfter} ms)`;
    events.add(`start ${label}${plan}`);
    const started = Date.now();
    let killed = false;
    // Armed right after the start: the command needs 100 ms and more before it writes anything.
    const { child, exited } = startBarman(['-c', config, ...args]);
    const disarm = aimed ? trigger.arm(() => (killed = killNow(child.pid!))) : () => {};
    const killer = killAfter === null ? null : setTimeout(() => (killed = killNow(child.pid!)), killAfter);
    this.live.set(child.pid!, () => {
      events.add(`kill -9 ${label}: the soak is over`);
      killed = killNow(child.pid!);
    });
    const watchdog = setTimeout(() => {
      this.anomaly(`${label}: still running after ${HUNG_MS / 1000} s: killed`);
      killNow(child.pid!);
    }, HUNG_MS);
    const run = await exited;
    this.live.delete(child.pid!);
    disarm();
    clearTimeout(watchdog);
    if (killer) clearTimeout(killer);
    const elapsed = Date.now() - started;
    killed &&= run.signal === 'SIGKILL';
    this.count(`${action}${killed ? ' killed' : ''}`);
    events.add(
      `end ${label}: ${killed ? 'KILLED' : `exit ${run.exitCode}`} in ${elapsed} ms` +
        (run.stderr.trim() ? ` | ${run.stderr.trim().split('\n').slice(0, 3).join(' | ')}` : ''),
    );
    if (action === 'backup') this.noteBackup(args.at(-1)!, run, killed);
    if (killed) {
      const sign = crashSign(`${run.stdout}\n${run.stderr}`);
      if (sign) this.anomaly(`${label}: crash sign '${sign}' before the kill:\n${run.stderr.slice(-3000)}`);
      return;
    }
    const stats = this.durations.get(action) ?? { total: 0, count: 0 };
    this.durations.set(action, { total: stats.total + elapsed, count: stats.count + 1 });
    this.checkOutput(run, label, action);
  }

  /**
   * A kill 0-30 ms after the server's xlog.db is written (appended, or replaced by a rewrite), or
   * the moment a rewrite's temp copy appears.
   */
  private xlogDbTrigger(server: string): KillTrigger {
    const { random, home } = this.options;
    const temp = random.chance(0.25);
    const delay = temp ? 0 : random.int(0, 30);
    const wals = join(home, server, 'wals');
    return {
      description: temp
        ? `as a temp copy of ${server}'s xlog.db appears`
        : `${delay} ms after a write of ${server}'s xlog.db`,
      arm: (kill) => {
        const watcher = watchQuietly(wals, (name) => {
          if (temp ? !name.startsWith('.xlog.db.') : name !== 'xlog.db') return;
          watcher?.close();
          setTimeout(kill, delay);
        });
        return () => watcher?.close();
      },
    };
  }

  /** A kill right after a new backup of `server` writes `status` into its backup.info. */
  private backupStatusTrigger(server: string, status: string): KillTrigger {
    const base = join(this.options.home, server, 'base');
    return {
      description: `once the new backup is ${status}`,
      arm: (kill) => {
        const known = new Set(backupStatuses(join(this.options.home, server)).keys());
        let infoWatcher: FSWatcher | null = null;
        const baseWatcher = watchQuietly(base, (id) => {
          if (infoWatcher || !/^\d{8}T\d{6}$/.test(id) || known.has(id)) return;
          const file = join(base, id, 'backup.info');
          infoWatcher = watchQuietly(join(base, id), (name) => {
            if (name !== 'backup.info' || !existsSync(file)) return;
            if (new RegExp(`^status=${status}$`, 'm').test(readFileSync(file, 'utf8'))) kill();
          });
        });
        return () => {
          baseWatcher?.close();
          infoWatcher?.close();
        };
      },
    };
  }

  private meanDuration(action: Action): number {
    const stats = this.durations.get(action);
    return stats && stats.count > 0 ? stats.total / stats.count : (FIRST_GUESS_MS[action] ?? 800);
  }

  /** A killed backup whose backup.info still says STARTED must never become DONE. */
  private noteBackup(server: string, run: CompletedRun, killed: boolean): void {
    const id = /\/base\/(\d{8}T\d{6})$/m.exec(run.stdout)?.[1];
    if (!killed || !id) return;
    const file = join(this.options.home, server, 'base', id, 'backup.info');
    const status = existsSync(file) ? /^status=(.*)$/m.exec(readFileSync(file, 'utf8'))?.[1] : 'none';
    this.options.events.add(`killed backup ${server} ${id} was ${status}`);
    if (status === 'STARTED' || status === 'EMPTY') {
      const ids = this.midCopy.get(server) ?? new Set<string>();
      ids.add(id);
      this.midCopy.set(server, ids);
    }
  }
}

/** A moment to kill a command at, watched from outside while it runs. */
interface KillTrigger {
  description: string;
  /** Starts watching; calls `kill` at the moment; returns the function that stops watching. */
  arm(kill: () => void): () => void;
}

/** fs.watch (inotify: no polling delay), or null when the directory does not exist yet. */
function watchQuietly(directory: string, onName: (name: string) => void): FSWatcher | null {
  try {
    const watcher = watch(directory, (_event, name) => {
      if (typeof name === 'string') onName(name);
    });
    watcher.on('error', () => watcher.close());
    return watcher;
  } catch {
    return null;
  }
}
