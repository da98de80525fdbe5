/**
 * Stops a server's task the way `barman terminate-process` and `barman receive-wal --stop` do:
 * SIGINT to the process holding the task's lock (see locks/processes.ts), then a wait until the
 * lock is free, so that when this returns the task has finished its own clean-up (a backup
 * marked FAILED, pg_receivewal stopped).
 */
import type { ServerConfig } from '../../config/index.js';
import { BarmanError } from '../../errors/index.js';
import { isProcessTask, listServerProcesses, PROCESS_TASKS, stopLockHolder } from '../../locks/processes.js';
import type { Reporter } from '../../output/reporter.js';

/** How long a stop waits for the process to end after SIGINT. */
export const STOP_WAIT_MS = 30_000;

/** Stops every process of `task` on the server; returns their pids. Throws when none runs. */
export async function terminateTask(
  config: ServerConfig,
  task: string,
  report: Reporter,
  waitMs = STOP_WAIT_MS,
): Promise<number[]> {
  const listed = listServerProcesses(config.barman_lock_directory, config.name);
  const running = listed.processes.filter((process) => process.task === task);
  const nameless = listed.unreadable.find((process) => process.task === task);
  if (running.length === 0 && nameless) {
    // Held by something that wrote no pid (not barman, or a file damaged by hand).
    throw new BarmanError(
      'process-pid-unknown',
      `Cannot terminate process ${task}: its lock file ${nameless.lockFile} is held but names no pid`,
      { hint: 'nothing was signalled; find the holder with fuser or lsof on that file' },
    );
  }
  const stopped: number[] = [];
  for (const { lockFile } of running) {
    const outcome = await stopLockHolder(lockFile, { waitMs, task });
    if (outcome.kind === 'ended') continue;
    if (outcome.kind === 'still-running') {
      throw new BarmanError(
        'process-stop-failed',
        `Cannot terminate process ${task}(${outcome.pid}): still running ${waitMs / 1000} seconds after SIGINT`,
        { hint: `run 'barman list-processes ${config.name}' to see whether it has ended since` },
      );
    }
    report.info(`Stopped process ${task}(${outcome.pid})`);
    stopped.push(outcome.pid);
  }
  if (stopped.length === 0) throw notRunning(config.name, task);
  return stopped;
}

/**
 * Barman's message for a task with no process (never started, or already ended); a name that is
 * no task at all (a typo) also gets the list of tasks.
 */
function notRunning(server: string, task: string): BarmanError {
  const hint = isProcessTask(task)
    ? undefined
    : `'${task}' is not a task barman runs as a process; the tasks are ${PROCESS_TASKS.join(', ')}`;
  return new BarmanError(
    'process-not-running',
    `Termination of ${task} failed: no such process for server ${server}`,
    {
      hint,
    },
  );
}
