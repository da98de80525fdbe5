/**
 * Tools for soak tests: a seeded random source (so a failing run can be replayed with its seed),
 * a timestamped event log, the processes running a given command line (found in /proc), and
 * output checks for the signs of a crash.
 */
import { appendFileSync, readdirSync, readFileSync, statSync } from 'node:fs';

/** mulberry32: small, fast and good enough to pick actions; the same seed gives the same picks. */
export class SeededRandom {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('SeededRandom.pick: no items');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** One of the keys of `weights`, with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as [K, number][];
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0);
    let roll = this.next() * total;
    for (const [key, weight] of entries) {
      roll -= weight;
      if (roll < 0) return key;
    }
    return entries.at(-1)![0];
  }
}

/** Timestamped lines (seconds since the start) kept in memory and appended to a file. */
export class EventLog {
  readonly lines: string[] = [];
  private readonly started = Date.now();

  constructor(private readonly file: string) {}

  add(message: string): void {
    const line = `${((Date.now() - this.started) / 1000).toFixed(2).padStart(7)}s ${message}`;
    this.lines.push(line);
    appendFileSync(this.file, `${line}\n`);
  }

  tail(count = 80): string {
    return this.lines.slice(-count).join('\n');
  }
}

export interface ProcessInfo {
  pid: number;
  argv: string[];
}

/**
 * Live processes (zombies left out) whose argv has every one of `parts`, each as a whole argument
 * or as the file name of the program (`pg_basebackup` matches `/usr/lib/.../bin/pg_basebackup`).
 */
export function findProcesses(...parts: string[]): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').slice(0, -1);
      const program = argv[0]?.split('/').at(-1);
      if (argv.length === 0 || !parts.every((part) => argv.includes(part) || part === program)) continue;
      if (/^State:\s*Z/m.test(readFileSync(`/proc/${entry}/status`, 'utf8'))) continue;
      found.push({ pid: Number(entry), argv });
    } catch {
      // gone in between, or not readable
    }
  }
  return found;
}

/** SIGKILL; false when the process was already gone. */
export function killNow(pid: number): boolean {
  try {
    process.kill(pid, 'SIGKILL');
    return true;
  } catch {
    return false;
  }
}

/**
 * Signs that a command crashed instead of reporting a problem: barman-ts's "internal error"
 * line, a JavaScript stack frame, an uncaught exception or Node's own warnings.
 */
const CRASH_SIGNS = [
  /internal error/i,
  /^\s+at .+[(/].*:\d+:\d+\)?$/m,
  /\b(TypeError|ReferenceError|RangeError|SyntaxError|AssertionError)\b/,
  /Unhandled|uncaught/i,
  /\(node:\d+\) \w*Warning/,
];

/** The first crash sign found in `output`, or null. */
export function crashSign(output: string): string | null {
  for (const pattern of CRASH_SIGNS) {
    const match = pattern.exec(output);
    if (match) return match[0].trim();
  }
  return null;
}

/**
 * Whether some process holds a flock on `path`, seen in /proc/locks without taking the lock:
 * a probe that takes it, even for a moment, can make the process under test find it held.
 */
export function isFileLocked(path: string): boolean {
  let inode: bigint;
  try {
    inode = statSync(path, { bigint: true }).ino;
  } catch {
    return false;
  }
  // "1: FLOCK  ADVISORY  READ  1234 08:01:5678 0 EOF": major:minor:inode in the sixth field.
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .some((line) => line.split(/\s+/)[5]?.split(':')[2] === String(inode));
}
