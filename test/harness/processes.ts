/** Finding the processes a test started: by command line, and by the pid a lock file holds. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { isProcessAlive } from './tmp.js';

/** Pids of live processes (other than this one) whose command line mentions `text`. */
export function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text) && isProcessAlive(pid)) pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** The pid in a lock file, or null when the file is missing, empty or holds no pid. */
export function lockPid(path: string): number | null {
  if (!existsSync(path)) return null;
  const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}
