/**
 * Everything barman-ts writes is private to barman_user: 0600 files, 0700 directories, since
 * the catalogue and the log hold the database's rows, hosts, users and paths. PRIVATE_UMASK is
 * set once at start-up (and inherited by the programs barman runs); copies that keep their
 * source's mode (copyFile, rsync -p, pg_basebackup, pg_receivewal) go through privateMode.
 */
export const PRIVATE_UMASK = 0o077;

/** `mode` without any permission for group and other users (nor setuid, setgid, sticky). */
export function privateMode(mode: number): number {
  return mode & 0o700;
}

/** True when `mode` gives group or other users any permission. */
export function isOpenMode(mode: number): boolean {
  return (mode & 0o077) !== 0;
}
