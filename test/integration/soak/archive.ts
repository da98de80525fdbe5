/** What the soak checks on disk in a server's directory under barman_home. */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const BACKUP_ID = /^\d{8}T\d{6}$/;
const WAL_FILE = /^[0-9A-F]{24}(\.[0-9A-F]{8}\.backup|\.partial)?$/;
const HISTORY = /^[0-9A-F]{8}\.history$/;
const XLOG_LINE =
  /^[0-9A-F]{8}(?:[0-9A-F]{16}(?:\.[0-9A-F]{8}\.backup|\.partial)?|\.history)\t\d+\t\d+(\.\d+)?\t\S+$/;
/** put-wal's temp file (`.<pid>-<token>-<name>.tmp`): removed by archive-wal once stale (30 min). */
const PUT_WAL_TEMP = /^\.(\d+)-[0-9a-z]+-.+\.tmp$/;

const list = (directory: string): string[] => (existsSync(directory) ? readdirSync(directory).sort() : []);

/** Status of each backup listed in base/ (those with a backup.info). */
export function backupStatuses(serverDir: string): Map<string, string> {
  const statuses = new Map<string, string>();
  for (const id of list(join(serverDir, 'base'))) {
    const file = join(serverDir, 'base', id, 'backup.info');
    if (!BACKUP_ID.test(id) || !existsSync(file)) continue;
    statuses.set(id, /^status=(.*)$/m.exec(readFileSync(file, 'utf8'))?.[1] ?? '(no status)');
  }
  return statuses;
}

/** xlog.db's lines, sorted (Barman appends them in archival order; a rebuild sorts by name). */
export function xlogDbLines(serverDir: string): string[] {
  const file = join(serverDir, 'wals', 'xlog.db');
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  return text === '' ? [] : text.replace(/\n$/, '').split('\n').sort();
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Everything that should not be there once archiving has caught up: torn or duplicate xlog.db
 * lines, temp files and strangers in wals/, WAL still waiting in incoming/, anything in errors/,
 * and backup directories without a backup.info.
 */
export function archiveProblems(serverDir: string): string[] {
  const problems: string[] = [];
  const xlogFile = join(serverDir, 'wals', 'xlog.db');
  const text = existsSync(xlogFile) ? readFileSync(xlogFile, 'utf8') : '';
  if (text !== '' && !text.endsWith('\n')) problems.push('xlog.db ends with a torn line');
  const names = new Set<string>();
  for (const line of xlogDbLines(serverDir)) {
    if (!XLOG_LINE.test(line)) problems.push(`malformed xlog.db line ${JSON.stringify(line)}`);
    const name = line.split('\t')[0]!;
    if (names.has(name)) problems.push(`${name} is twice in xlog.db`);
    names.add(name);
  }
  const wals = join(serverDir, 'wals');
  for (const entry of list(wals)) {
    const path = join(wals, entry);
    if (entry === 'xlog.db' || HISTORY.test(entry)) continue;
    if (!/^[0-9A-F]{16}$/.test(entry) || !statSync(path).isDirectory()) {
      problems.push(`unexpected wals/${entry}`);
      continue;
    }
    for (const name of list(path))
      if (!WAL_FILE.test(name) || !name.startsWith(entry)) problems.push(`unexpected wals/${entry}/${name}`);
  }
  for (const name of list(join(serverDir, 'incoming'))) {
    const temp = PUT_WAL_TEMP.exec(name);
    if (temp && !pidAlive(Number(temp[1]))) continue; // a killed put-wal's, by design until stale
    problems.push(`incoming/${name} left behind`);
  }
  for (const name of list(join(serverDir, 'streaming'))) {
    if (!WAL_FILE.test(name)) problems.push(`unexpected streaming/${name}`);
  }
  for (const name of list(join(serverDir, 'errors'))) problems.push(`errors/${name}`);
  for (const id of list(join(serverDir, 'base'))) {
    if (!existsSync(join(serverDir, 'base', id, 'backup.info')))
      problems.push(`base/${id} has no backup.info`);
    for (const name of list(join(serverDir, 'base', id)))
      if (name.startsWith('.')) problems.push(`unexpected base/${id}/${name}`);
  }
  for (const name of list(serverDir)) if (name.startsWith('.')) problems.push(`unexpected ${name}`);
  return problems;
}

/** Temp files and unfinished journals in barman_home itself (the lock directory). */
export function homeProblems(home: string): string[] {
  return list(home)
    .filter((name) => name.endsWith('.tmp') || name.endsWith('.journal'))
    .map((name) => `${name} left in barman_home`);
}
