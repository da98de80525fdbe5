/**
 * The daemon's runs: each is `barman -c FILE <command>` in a child process of its own process
 * group, so that a run that crashes or leaks never takes the daemon down, the existing locks keep
 * runs from overlapping with crontab's or an operator's, and a stop reaches the whole run
 * (barman and the rsync or pg_basebackup it started).
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cliEntry } from '../process/cli-entry.js';
import type { ScheduledJob } from './plan.js';

export interface RunOutcome {
  job: ScheduledJob;
  /** Exit code, or null when the run was ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  seconds: number;
}

export interface RunListener {
  started(job: ScheduledJob, pid: number): void;
  line(job: ScheduledJob, line: string, stream: 'stdout' | 'stderr'): void;
}

export class RunGroup {
  private readonly running = new Map<ChildProcess, Promise<RunOutcome>>();
  private readonly entry = cliEntry();

  constructor(
    private readonly configFile: string,
    private readonly listener: RunListener,
  ) {}

  /** Runs `job` to its end; never rejects (a run that cannot start ends with code 127). */
  run(job: ScheduledJob): Promise<RunOutcome> {
    const started = Date.now();
    const child = spawn(process.execPath, [this.entry, '-c', this.configFile, ...job.args], {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const outcome = new Promise<RunOutcome>((resolve) => {
      const seconds = () => (Date.now() - started) / 1000;
      child.on('error', () => resolve({ job, code: 127, signal: null, seconds: seconds() }));
      child.on('close', (code, signal) => resolve({ job, code, signal, seconds: seconds() }));
    }).finally(() => this.running.delete(child));
    if (child.pid !== undefined) this.listener.started(job, child.pid);
    for (const [stream, name] of [
      [child.stdout, 'stdout'],
      [child.stderr, 'stderr'],
    ] as const)
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) =>
        this.listener.line(job, line, name),
      );
    this.running.set(child, outcome);
    return outcome;
  }

  get size(): number {
    return this.running.size;
  }

  /** Sends `signal` to the process group of every run. */
  signal(signal: NodeJS.Signals): void {
    for (const child of this.running.keys()) {
      if (child.pid === undefined) continue;
      try {
        process.kill(-child.pid, signal);
      } catch {
        // The run has just ended.
      }
    }
  }

  /** Resolves with the outcome of every run still going, once all have ended. */
  async drain(): Promise<RunOutcome[]> {
    return Promise.all([...this.running.values()]);
  }
}
