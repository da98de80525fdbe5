/**
 * Hook scripts (Barman's pre/post `<family>_script` and `<family>_retry_script` options): shell
 * commands the operator wrote, run with `sh -c` and the BARMAN_* environment around backups,
 * WAL archiving, deletions and recoveries.
 *
 * Order around an operation: pre_script, pre_retry_script, operation, post_retry_script,
 * post_script. A standard script's exit status is only reported (a warning when non-zero). A
 * retry script is run again until it exits 0 (success), 62 (abort and continue) or 63 (abort
 * and stop: in a pre phase the operation is aborted with a HookAbortError, in a post phase it is
 * a warning). Between failures it sleeps 3 s, and 60 s after every 5 failures.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ServerConfig } from '../config/index.js';
import { BarmanError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { Reporter } from '../output/reporter.js';

export type HookFamily = 'backup' | 'archive' | 'delete' | 'wal_delete' | 'recovery';
export type HookPhase = 'pre' | 'post';
export type HookOptionKey = `${HookPhase}_${HookFamily}_${'script' | 'retry_script'}`;

/** Exit statuses a retry script uses to end its retries. */
export const HOOK_EXIT = { success: 0, abortContinue: 62, abortStop: 63 } as const;

/** Failures of a retry script after which the long sleep replaces the short one. */
export const ATTEMPTS_BEFORE_NAP = 5;
/** Barman's sleeps between failed attempts of a retry script: [after a failure, after every 5th]. */
export const DEFAULT_RETRY_SLEEP_MS: readonly [number, number] = [3_000, 60_000];

/** At most this much of each output stream is kept for the log. */
const OUTPUT_LIMIT = 64 * 1024;

export interface HookRunnerDeps {
  config: ServerConfig;
  /** The main configuration file (BARMAN_CONFIGURATION). */
  configFile: string;
  /** BARMAN_VERSION. */
  version: string;
  report: Reporter;
  log: Logger;
  /** Sleeps between failed attempts of a retry script; default [3000, 60000] (Barman's). */
  retrySleepMs?: readonly [number, number];
  /**
   * Attempts of a retry script before giving up (a pre phase is then aborted, a post phase
   * warned about). Default: unlimited, like Barman.
   */
  maxAttempts?: number;
  /** Environment the scripts inherit (default: this process's). */
  baseEnv?: NodeJS.ProcessEnv;
}

/** A pre-phase retry script stopped the operation (exit 63), or never succeeded within maxAttempts. */
export class HookAbortError extends BarmanError {
  constructor(
    /** The option whose script aborted, e.g. `pre_archive_retry_script`. */
    readonly hook: HookOptionKey,
    /** Its last exit status (null when it could not run or died from a signal). */
    readonly exitStatus: number | null,
    message: string,
  ) {
    super('hook-abort', message);
    this.name = 'HookAbortError';
  }
}

export function isHookAbort(error: unknown): error is HookAbortError {
  return error instanceof HookAbortError;
}

interface ScriptResult {
  /** Null when the shell could not be started or was killed by a signal. */
  exitStatus: number | null;
  stdout: string;
  stderr: string;
  /** Why there is no exit status. */
  failure: string | null;
}

export class HookRunner {
  private readonly retrySleepMs: readonly [number, number];
  private readonly maxAttempts: number;

  constructor(private readonly deps: HookRunnerDeps) {
    this.retrySleepMs = deps.retrySleepMs ?? DEFAULT_RETRY_SLEEP_MS;
    this.maxAttempts = deps.maxAttempts ?? Number.POSITIVE_INFINITY;
  }

  /** The runner of a command: `ctx` is the command context (configuration file, version, reporter, logger). */
  static forServer(
    ctx: { config: { configFile: string }; version: string; report: Reporter; log: Logger },
    config: ServerConfig,
  ): HookRunner {
    return new HookRunner({
      config,
      configFile: ctx.config.configFile,
      version: ctx.version,
      report: ctx.report,
      log: ctx.log.child({ server: config.name }),
    });
  }

  /** The script configured for an option, or null. */
  script(key: HookOptionKey): string | null {
    const value = this.deps.config[key];
    return typeof value === 'string' && value.trim() !== '' ? value : null;
  }

  /** True when any script of `family` (optionally of one phase) is configured. */
  has(family: HookFamily, phase?: HookPhase): boolean {
    const phases: HookPhase[] = phase ? [phase] : ['pre', 'post'];
    return phases.some(
      (which) =>
        this.script(`${which}_${family}_script`) !== null ||
        this.script(`${which}_${family}_retry_script`) !== null,
    );
  }

  /**
   * Runs the scripts of one phase with `env` (the family's BARMAN_* variables) added to the
   * common ones. `pre`: `pre_<family>_script` then `pre_<family>_retry_script`, throwing a
   * HookAbortError when the retry script exits 63 (unless `options.ignoreStop`: then a warning,
   * as Barman does for wal_delete). `post`: `post_<family>_retry_script` then
   * `post_<family>_script`; script failures are warnings, never errors.
   */
  async run(
    family: HookFamily,
    phase: HookPhase,
    env: Readonly<Record<string, string>> = {},
    options: { ignoreStop?: boolean } = {},
  ): Promise<void> {
    if (phase === 'pre') {
      await this.runStandard(family, phase, env);
      await this.runRetry(family, phase, env, options.ignoreStop === true);
    } else {
      await this.runRetry(family, phase, env, true);
      await this.runStandard(family, phase, env);
    }
  }

  private async runStandard(
    family: HookFamily,
    phase: HookPhase,
    env: Readonly<Record<string, string>>,
  ): Promise<void> {
    const key: HookOptionKey = `${phase}_${family}_script`;
    const script = this.script(key);
    if (script === null) return;
    const result = await this.execute(key, script, this.environment(family, phase, false, env));
    if (result.exitStatus !== 0) this.deps.report.warning(`${key} ${describeResult(result)}`);
  }

  /** `ignoreStop`: exit 63 (or giving up) is a warning instead of a HookAbortError. */
  private async runRetry(
    family: HookFamily,
    phase: HookPhase,
    env: Readonly<Record<string, string>>,
    ignoreStop: boolean,
  ): Promise<void> {
    const key: HookOptionKey = `${phase}_${family}_retry_script`;
    const script = this.script(key);
    if (script === null) return;
    const environment = this.environment(family, phase, true, env);
    const [shortSleep, nap] = this.retrySleepMs;
    for (let attempt = 1; ; attempt += 1) {
      const result = await this.execute(key, script, environment);
      const status = result.exitStatus;
      if (status === HOOK_EXIT.success) return;
      if (status === HOOK_EXIT.abortContinue) {
        this.deps.report.warning(`${key} was aborted (exit status ${status}): continuing`);
        return;
      }
      if (status === HOOK_EXIT.abortStop) {
        if (!ignoreStop) {
          this.deps.log.error(`${key} was aborted (exit status ${status}): stopping`, { script });
          throw new HookAbortError(key, status, `${key} requested to stop (exit status ${status})`);
        }
        this.deps.report.warning(
          `Ignoring stop request after receiving abort (exit status ${status}) from ${key}`,
        );
        return;
      }
      if (attempt >= this.maxAttempts) {
        const message = `${key} failed ${attempt} time${attempt === 1 ? '' : 's'} (${describeResult(result)})`;
        if (!ignoreStop) throw new HookAbortError(key, status, `${message}: giving up`);
        this.deps.report.warning(`${message}: giving up`);
        return;
      }
      const wait = attempt % ATTEMPTS_BEFORE_NAP === 0 ? nap : shortSleep;
      this.deps.report.warning(`${key} ${describeResult(result)}: retrying in ${formatSeconds(wait)}`);
      await sleep(wait);
    }
  }

  /** The process environment of one script: inherited, the family's variables, then the common ones. */
  private environment(
    family: HookFamily,
    phase: HookPhase,
    retry: boolean,
    env: Readonly<Record<string, string>>,
  ): Record<string, string> {
    const base = this.deps.baseEnv ?? process.env;
    const result: Record<string, string> = {};
    for (const [name, value] of Object.entries(base)) if (value !== undefined) result[name] = value;
    Object.assign(result, { BARMAN_ERROR: '' }, env, {
      BARMAN_VERSION: this.deps.version,
      BARMAN_SERVER: this.deps.config.name,
      BARMAN_CONFIGURATION: this.deps.configFile,
      BARMAN_HOOK: `${family}_${retry ? 'retry_script' : 'script'}`,
      BARMAN_PHASE: phase,
      BARMAN_RETRY: retry ? '1' : '0',
    });
    const prefix = this.deps.config.path_prefix;
    if (prefix) result.PATH = result.PATH ? `${prefix}:${result.PATH}` : prefix;
    return result;
  }

  /** Runs `sh -c script`; every value reaches it through the environment, none through the script text. */
  private async execute(
    key: HookOptionKey,
    script: string,
    env: Record<string, string>,
  ): Promise<ScriptResult> {
    this.deps.log.debug(`running ${key}`, { script });
    const result = await runShell(script, env);
    const fields: Record<string, unknown> = { script, exitStatus: result.exitStatus };
    if (result.stdout !== '') fields.stdout = result.stdout;
    if (result.stderr !== '') fields.stderr = result.stderr;
    if (result.failure !== null) fields.failure = result.failure;
    if (result.exitStatus === 0) this.deps.log.info(`${key} returned 0`, fields);
    else this.deps.log.warning(`${key} ${describeResult(result)}`, fields);
    return result;
  }
}

function runShell(script: string, env: Record<string, string>): Promise<ScriptResult> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', script], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const stdout = new OutputBuffer();
    const stderr = new OutputBuffer();
    child.stdout.on('data', (chunk: Buffer) => stdout.add(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.add(chunk));
    let settled = false;
    const finish = (exitStatus: number | null, failure: string | null) => {
      if (settled) return;
      settled = true;
      resolve({ exitStatus, stdout: stdout.text(), stderr: stderr.text(), failure });
    };
    child.on('error', (error) => finish(null, `could not run sh: ${error.message}`));
    child.on('close', (code, signal) =>
      code === null ? finish(null, `killed by ${signal ?? 'a signal'}`) : finish(code, null),
    );
  });
}

/** Keeps the first OUTPUT_LIMIT bytes of a stream. */
class OutputBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  private dropped = 0;

  add(chunk: Buffer): void {
    const room = OUTPUT_LIMIT - this.kept;
    if (room > 0) {
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      this.chunks.push(part);
      this.kept += part.length;
    }
    this.dropped += Math.max(0, chunk.length - Math.max(room, 0));
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString();
    return this.dropped > 0 ? `${text}\n[... ${this.dropped} more bytes]` : text;
  }
}

function describeResult(result: ScriptResult): string {
  const what = result.failure ?? `returned ${result.exitStatus}`;
  const lastLine = (result.stderr.trim() || result.stdout.trim()).split('\n').at(-1)?.trim();
  return lastLine ? `${what}: ${lastLine}` : what;
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${seconds} second${seconds === 1 ? '' : 's'}`;
}
