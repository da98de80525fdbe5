// A private OpenSSH server on 127.0.0.1 for integration tests (needs root): key-only logins
// between the listed OS users, with every key, config and known_hosts file in a temp dir, so
// nothing is written to the users' ~/.ssh.
import { readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  canConnect,
  chownTo,
  createDir,
  ensureOsUser,
  fileTail,
  freePort,
  isRoot,
  makeTempDir,
  registerExitCleanup,
  runAs,
  processStartTime,
  terminateProcess,
  terminateProcessSync,
  waitFor,
} from './tmp.js';

export interface SshdOptions {
  /** OS users that can log in, and log in to each other (created when missing). */
  users: readonly string[];
  /**
   * Environment variables set in every session (sshd_config `SetEnv`; applied after PAM and the
   * default PATH, so `PATH` here decides which programs a remote command finds first).
   */
  setEnv?: Readonly<Record<string, string>>;
}

export interface SshServer {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Arguments for `ssh` run by `fromUser` to log in as `toUser`; append the remote command. */
  sshArgs(fromUser: string, toUser: string): string[];
  /**
   * `ssh <sshArgs>` as one string: the form of Barman's `ssh_command`, also usable as rsync's
   * `-e` with a host-less remote path (`:<dir>/`), as Barman runs it.
   */
  sshCommand(fromUser: string, toUser: string): string;
  /** Stops the listening sshd (established sessions end with their clients). Idempotent. */
  stop(): Promise<void>;
}

const SSHD = '/usr/sbin/sshd';
const HOST = '127.0.0.1';

export async function startSshd(options: SshdOptions): Promise<SshServer> {
  if (!isRoot()) throw new Error('startSshd needs root: sshd must switch to the users it logs in');
  for (const user of options.users) await ensureOsUser(user);
  const dir = await makeTempDir('sshd');
  const port = await freePort();
  const pidFile = join(dir, 'sshd.pid');
  const logFile = join(dir, 'sshd.log');
  const configFile = join(dir, 'sshd_config');
  const authorizedKeysFile = join(dir, 'authorized_keys');

  await runAs(null, 'ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    'barman-ts-test-host',
    '-f',
    join(dir, 'host_key'),
  ]);
  const clientConfigs = new Map<string, string>();
  const publicKeys: string[] = [];
  for (const user of options.users) {
    const clientDir = await createDir(join(dir, 'clients', user), { owner: user, mode: 0o700 });
    const keyFile = join(clientDir, 'id_ed25519');
    await runAs(user, 'ssh-keygen', [
      '-q',
      '-t',
      'ed25519',
      '-N',
      '',
      '-C',
      `${user}@barman-ts-test`,
      '-f',
      keyFile,
    ]);
    publicKeys.push(await readFile(`${keyFile}.pub`, 'utf8'));
    const clientConfig = join(clientDir, 'config');
    await writeFile(clientConfig, clientConfigText(port, keyFile, join(clientDir, 'known_hosts')), {
      mode: 0o600,
    });
    await chownTo(clientConfig, user);
    clientConfigs.set(user, clientConfig);
  }
  // One file for every user: any listed user may log in as any other. sshd reads it as the
  // target user, hence world-readable.
  await writeFile(authorizedKeysFile, publicKeys.join(''), { mode: 0o644 });
  await writeFile(
    configFile,
    sshdConfigText({ port, dir, pidFile, authorizedKeysFile, users: options.users, setEnv: options.setEnv }),
  );

  await createDir('/run/sshd'); // privilege separation dir; without it sshd refuses to start (pitfall P3)
  await runAs(null, SSHD, ['-t', '-f', configFile]);
  const daemonPid = (): number | null => {
    try {
      return Number(readFileSync(pidFile, 'utf8').trim()) || null;
    } catch {
      return null;
    }
  };
  // The daemon's pid and start time, once its pid file is there: a pid file left by a daemon that
  // died names a pid that may be another process's by then.
  let daemon: { pid: number; startTime: string | null } | null = null;
  const daemonOnce = () => {
    const pid = daemonPid();
    if (daemon === null && pid !== null) daemon = { pid, startTime: processStartTime(pid) };
    return daemon;
  };
  const unregister = registerExitCleanup(() => {
    const known = daemonOnce();
    if (known) terminateProcessSync(known.pid, 'SIGTERM', 5_000, known.startTime);
  });
  const stopDaemon = async (): Promise<void> => {
    const known = daemonOnce();
    if (known) await terminateProcess(known.pid, 'SIGTERM', 5_000, known.startTime);
    unregister();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await runAs(null, SSHD, ['-f', configFile, '-E', logFile]); // daemonizes; pid file written once listening
    await waitFor('sshd pid file', () => daemonOnce() !== null, { timeoutMs: 10_000 });
    await waitFor(`sshd on port ${port}`, () => canConnect(port), { timeoutMs: 10_000 });
  } catch (error) {
    const logTail = fileTail(logFile);
    await stopDaemon();
    throw new Error(
      `sshd did not start: ${(error as Error).message}\n--- ${logFile} (tail) ---\n${logTail}`,
      {
        cause: error,
      },
    );
  }

  const sshArgs = (fromUser: string, toUser: string): string[] => {
    const clientConfig = clientConfigs.get(fromUser);
    if (!clientConfig || !options.users.includes(toUser)) {
      throw new Error(`ssh ${fromUser} -> ${toUser}: both must be among ${options.users.join(', ')}`);
    }
    return ['-F', clientConfig, '-p', String(port), `${toUser}@${HOST}`];
  };
  let stopping: Promise<void> | undefined;
  return {
    host: HOST,
    port,
    sshArgs,
    sshCommand: (fromUser, toUser) => ['ssh', ...sshArgs(fromUser, toUser)].join(' '),
    stop() {
      return (stopping ??= stopDaemon());
    },
  };
}

function clientConfigText(port: number, keyFile: string, knownHostsFile: string): string {
  // BatchMode + accept-new: no prompt ever; the first connection records the host key in our file.
  // LogLevel ERROR keeps "Permanently added ..." off stderr, which callers may parse.
  return `Host *
  Port ${port}
  IdentityFile ${keyFile}
  IdentitiesOnly yes
  UserKnownHostsFile ${knownHostsFile}
  StrictHostKeyChecking accept-new
  BatchMode yes
  LogLevel ERROR
`;
}

interface SshdConfig {
  port: number;
  dir: string;
  pidFile: string;
  authorizedKeysFile: string;
  users: readonly string[];
  setEnv?: Readonly<Record<string, string>>;
}

function sshdConfigText({ port, dir, pidFile, authorizedKeysFile, users, setEnv = {} }: SshdConfig): string {
  const setEnvLines = Object.entries(setEnv).map(([name, value]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name) || /["\\\n]/.test(value)) {
      throw new Error(`sshd SetEnv: unsupported variable ${name}=${value}`);
    }
    return `SetEnv "${name}=${value}"\n`;
  });
  return `Port ${port}
ListenAddress ${HOST}
HostKey ${join(dir, 'host_key')}
PidFile ${pidFile}
AuthorizedKeysFile ${authorizedKeysFile}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# With UsePAM no, sshd rejects system users whose shadow password is '!' as locked (pitfall P1).
UsePAM yes
# The keys live under /tmp (mode 1777), which StrictModes rejects (pitfall P2).
StrictModes no
AllowUsers ${users.join(' ')}
PermitRootLogin no
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
Subsystem sftp /usr/lib/openssh/sftp-server
${setEnvLines.join('')}`;
}
