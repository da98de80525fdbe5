/**
 * Barman runs as one OS user (`barman_user`) so that every file it writes has one owner.
 * Started as root, barman-ts switches to that user before doing anything else; started as any
 * other user, it refuses to run rather than write files a later run cannot read.
 */
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { BarmanError } from '../errors/index.js';

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/**
 * Switches to `user` when needed. `ownedDirectories` (e.g. the log file's directory) are created
 * for that user first when running as root, as a package's install script would have done.
 */
export function switchToBarmanUser(user: string, ownedDirectories: readonly string[] = []): void {
  const current = userInfo();
  if (current.username === user) return;
  const entry = lookupUser(user);
  if (!entry) {
    throw new BarmanError('user-unknown', `the configured user '${user}' does not exist`, {
      hint: 'Create it, or set barman_user in the [barman] section to the user barman-ts should run as.',
    });
  }
  if (current.uid === entry.uid) return;
  if (current.uid !== 0) {
    throw new BarmanError(
      'wrong-user',
      `please run barman as '${user}' user (running as '${current.username}')`,
      {
        hint: `Use 'sudo -u ${user} barman ...', or set barman_user to '${current.username}'.`,
      },
    );
  }
  for (const directory of ownedDirectories) createOwnedDirectory(directory, entry);
  try {
    // Supplementary groups of the target user (e.g. ssl-cert, postgres) matter for file access.
    (process as unknown as { initgroups(user: string, group: number): void }).initgroups(
      entry.name,
      entry.gid,
    );
    process.setgid!(entry.gid);
    process.setuid!(entry.uid);
  } catch (error) {
    throw new BarmanError(
      'user-switch-failed',
      `cannot switch to user '${user}': ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  process.env.HOME = entry.home;
  process.env.USER = entry.name;
  process.env.LOGNAME = entry.name;
}

function createOwnedDirectory(directory: string, owner: PasswdEntry): void {
  if (existsSync(directory)) return;
  try {
    // Every directory created here must belong to the user, not only the last one.
    const first = mkdirSync(directory, { recursive: true, mode: 0o700 });
    for (let path = directory; first !== undefined; path = dirname(path)) {
      chownSync(path, owner.uid, owner.gid);
      if (path === first || path === dirname(path)) break;
    }
  } catch {
    // Not fatal: opening the log later reports the problem with its real cause.
  }
}

function lookupUser(name: string): PasswdEntry | undefined {
  return parsePasswd(readPasswdFile(), name) ?? parsePasswd(getent(name), name);
}

function readPasswdFile(): string {
  try {
    return readFileSync('/etc/passwd', 'utf8');
  } catch {
    return '';
  }
}

/** Users from NSS sources (LDAP, sssd) are not in /etc/passwd. */
function getent(name: string): string {
  try {
    return execFileSync('getent', ['passwd', name], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return '';
  }
}

function parsePasswd(text: string, name: string): PasswdEntry | undefined {
  for (const line of text.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === name && fields.length >= 7) {
      return { name, uid: Number(fields[2]), gid: Number(fields[3]), home: fields[5]! };
    }
  }
  return undefined;
}
