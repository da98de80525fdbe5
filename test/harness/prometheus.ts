/**
 * A real Prometheus server (Debian's `prometheus` package) on 127.0.0.1 and a free port, with
 * its TSDB in a temp directory, scraping the targets and evaluating the rule files it is given
 * every second; `query` asks its HTTP API. Stopped by pid (with its start time) on exit, like
 * the other servers of the rig.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  childEnv,
  freePort,
  isProcessAlive,
  makeTempDir,
  processStartTime,
  registerExitCleanup,
  terminateProcess,
  terminateProcessSync,
  waitFor,
} from './tmp.js';

export const PROMETHEUS_BIN = '/usr/bin/prometheus';
export const PROMTOOL_BIN = '/usr/bin/promtool';

export interface PrometheusOptions {
  /** `host:port` targets of the one scrape job (`barman`), scraped every 5 seconds at /metrics (a scrape may run a program). */
  targets: readonly string[];
  /** Rule files' contents (YAML), evaluated every second. */
  ruleFiles?: readonly string[];
}

export interface PrometheusServer {
  url: string;
  /** An instant query's `data.result` (throws when Prometheus answers an error). */
  query(expression: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  /** GET an API path (`/api/v1/alerts`) and return its `data`. */
  api<T>(path: string): Promise<T>;
  logTail(): string;
  stop(): Promise<void>;
}

export async function startPrometheus(options: PrometheusOptions): Promise<PrometheusServer> {
  const dir = await makeTempDir('prometheus');
  const port = await freePort();
  const ruleFiles = (options.ruleFiles ?? []).map((text, index) => {
    const file = join(dir, `rules-${index}.yml`);
    writeFileSync(file, text);
    return file;
  });
  const configFile = join(dir, 'prometheus.yml');
  // JSON is YAML: no YAML writer needed.
  writeFileSync(
    configFile,
    JSON.stringify({
      global: { scrape_interval: '5s', evaluation_interval: '1s', scrape_timeout: '5s' },
      rule_files: ruleFiles,
      scrape_configs: [{ job_name: 'barman', static_configs: [{ targets: options.targets }] }],
    }),
  );
  const logFile = join(dir, 'prometheus.log');
  const logFd = openSync(logFile, 'a');
  const child = spawn(
    PROMETHEUS_BIN,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', logFd, logFd], env: childEnv() },
  );
  closeSync(logFd);
  child.unref();
  const pid = child.pid;
  if (pid === undefined) {
    const reason = await new Promise<Error>((resolve) => child.once('error', resolve));
    throw new Error(`prometheus did not start: ${reason.message}`, { cause: reason });
  }
  const startTime = processStartTime(pid);
  const unregister = registerExitCleanup(() => terminateProcessSync(pid, 'SIGTERM', 5_000, startTime));
  const url = `http://127.0.0.1:${port}`;
  const logTail = () => readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
  const stop = async () => {
    await terminateProcess(pid, 'SIGTERM', 5_000, startTime);
    unregister();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `prometheus on port ${port}`,
      async () => {
        if (!isProcessAlive(pid)) throw new Error('prometheus exited');
        return (await fetch(`${url}/-/ready`).catch(() => null))?.ok === true;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  } catch (error) {
    const tail = logTail();
    await stop();
    throw new Error(`prometheus did not start: ${(error as Error).message}\n--- log (tail) ---\n${tail}`, {
      cause: error,
    });
  }
  const api = async <T>(path: string): Promise<T> => {
    const response = await fetch(`${url}${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`prometheus ${path}: ${body.error ?? response.status}`);
    return body.data;
  };
  return {
    url,
    api,
    query: async (expression) =>
      (
        await api<{ result: Array<{ metric: Record<string, string>; value: [number, string] }> }>(
          `/api/v1/query?query=${encodeURIComponent(expression)}`,
        )
      ).result,
    logTail,
    stop,
  };
}
