/**
 * How a backup is named on the command line: its id (`20240101T000000`), a shortcut, or the name
 * given with `backup --name`. Kept apart from the catalogue code so the CLI can check a new name
 * without loading it.
 */

/** A backup id: the backup's start time, `YYYYMMDDTHHMMSS`. */
export const BACKUP_ID = /^\d{8}T\d{6}$/;

/** Shortcuts accepted wherever a backup id is (Barman 3.4's). */
export const BACKUP_SHORTCUTS: readonly string[] = ['latest', 'last', 'oldest', 'first', 'last-failed'];

/**
 * Why `name` cannot name a backup, or null. As Barman 3.4: not empty, not a shortcut, not an id
 * (each would make the name unreachable), and not `auto`, which recover reserves. Also no control characters (a line break would split
 * the backup.info line that stores it) and no surrounding blanks (lost when backup.info is read).
 */
export function backupNameProblem(name: string): string | null {
  if (name.trim() === '') return 'Backup name cannot be empty';
  // `auto` too: recover takes it for "the newest backup that reaches the target".
  if (BACKUP_SHORTCUTS.includes(name) || name === 'auto')
    return `Backup name '${name}' is not allowed: reserved word`;
  if (BACKUP_ID.test(name)) return `Backup name '${name}' is not allowed: backup ID`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name))
    return `Backup name ${JSON.stringify(name)} is not allowed: it contains a line break or another control character`;
  if (name.trim() !== name) return `Backup name '${name}' is not allowed: it starts or ends with a blank`;
  return null;
}
