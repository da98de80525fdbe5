/**
 * What recovery writes into the restored configuration, as pure text functions: the recovery
 * settings (restore_command, targets, timeline, action) and the "dangerous settings" pass over
 * postgresql.conf / postgresql.auto.conf (archive_command disabled so the copy cannot overwrite
 * the production archive, old recovery_target* settings commented out, paths reported).
 */
import { shellQuote } from '../process/spawn.js';
import { formatLsn } from '../wal/names.js';
import type { RecoveryTargets } from './targets.js';

export interface RestoreCommandChoice {
  /** 'copy': WALs copied into the destination; 'get-wal': fetched from barman-ts on demand. */
  mode: 'copy' | 'get-wal' | 'none';
  /** copy: the directory PostgreSQL reads WALs from, relative to PGDATA (`barman_wal`) or absolute. */
  walDirectory?: string;
  /** get-wal: the full restore_command and a comment line explaining it. */
  command?: string;
  comment?: string;
}

export interface RecoverySettingsInput {
  targets: RecoveryTargets;
  /** Timeline to write: a number, 'latest', or null to leave PostgreSQL's default. */
  timeline: number | 'latest' | null;
  restore: RestoreCommandChoice;
  /** server_version_num of the backup. */
  version: number;
}

/** Quotes a value for postgresql.conf: single quotes, embedded ones doubled. */
export function confQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** The recovery settings, one `name = value` line each (comments start with #). */
export function recoverySettingsLines(input: RecoverySettingsInput): string[] {
  const lines: string[] = [];
  const { targets, restore } = input;
  if (restore.mode === 'copy' && restore.walDirectory) {
    // Run by a shell: a --staging-wal-directory with spaces or quotes stays one word.
    const directory = shellQuote(restore.walDirectory);
    lines.push(`restore_command = ${confQuote(`cp ${directory}/%f %p`)}`);
    if (!targets.standbyMode) lines.push(`recovery_end_command = ${confQuote(`rm -fr ${directory}`)}`);
  } else if (restore.mode === 'get-wal' && restore.command) {
    if (restore.comment) lines.push(`# ${restore.comment}`);
    lines.push(`restore_command = ${confQuote(restore.command)}`);
  }
  const { target } = targets;
  if (target.kind === 'time') lines.push(`recovery_target_time = ${confQuote(target.text)}`);
  if (target.kind === 'xid') lines.push(`recovery_target_xid = ${confQuote(target.xid)}`);
  if (target.kind === 'lsn') lines.push(`recovery_target_lsn = ${confQuote(formatLsn(target.lsn))}`);
  if (target.kind === 'name') lines.push(`recovery_target_name = ${confQuote(target.name)}`);
  if (target.kind === 'immediate') lines.push(`recovery_target = 'immediate'`);
  // Barman writes Python's spelling; PostgreSQL accepts it as a boolean.
  if (targets.exclusive) lines.push(`recovery_target_inclusive = 'False'`);
  if (input.timeline !== null) {
    lines.push(
      `recovery_target_timeline = ${input.timeline === 'latest' ? "'latest'" : String(input.timeline)}`,
    );
  }
  if (targets.action !== null) {
    if (input.version >= 90500) lines.push(`recovery_target_action = ${confQuote(targets.action)}`);
    else if (targets.action === 'pause') lines.push(`pause_at_recovery_target = 'on'`);
  }
  if (input.version < 120000 && targets.standbyMode) lines.push(`standby_mode = 'on'`);
  return lines;
}

export interface DangerousSettingsResult {
  /** The new file content (unchanged when nothing was modified). */
  content: string;
  changed: boolean;
  /** Lines changed to prevent data loss: 0-based line numbers of the new text (Barman's convention). */
  modified: Array<{ line: number; text: string }>;
  /** Settings the DBA must review (paths into the old server), 0-based line numbers. */
  review: Array<{ line: number; text: string }>;
}

/** Settings that point at the original server's files or sockets. */
const REVIEW = new Set([
  'data_directory',
  'config_file',
  'hba_file',
  'ident_file',
  'external_pid_file',
  'ssl_cert_file',
  'ssl_key_file',
  'ssl_ca_file',
  'ssl_crl_file',
  'unix_socket_directory',
  'unix_socket_directories',
  'include',
  'include_dir',
  'include_if_exists',
]);

// `s`: a CRLF file leaves a \r at the end of each line, which `.` must match too.
const SETTING = /^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(=|\s)\s*(.*)$/s;

/**
 * Comments out (`#BARMAN#`) every archive_command, each followed by `archive_command = false`,
 * and every archive_library; comments out recovery_target* settings left in the file (they would fight the
 * new ones); lists settings to review. Content of other lines is untouched.
 */
export function disableDangerousSettings(content: string): DangerousSettingsResult {
  const input = content.split('\n');
  const output: string[] = [];
  const modified: DangerousSettingsResult['modified'] = [];
  const review: DangerousSettingsResult['review'] = [];
  let changed = false;
  for (const raw of input) {
    const match = SETTING.exec(raw);
    const name = match?.[1]?.toLowerCase();
    if (name === 'archive_command') {
      output.push(`#BARMAN#${raw}`);
      output.push('archive_command = false');
      modified.push({ line: output.length - 1, text: 'archive_command = false' });
      changed = true;
    } else if (name === 'archive_library') {
      // PostgreSQL 15+: an archive library would still archive despite archive_command = false.
      output.push(`#BARMAN#${raw}`);
      modified.push({ line: output.length - 1, text: `#BARMAN#${raw.trim()}` });
      changed = true;
    } else if (name !== undefined && name.startsWith('recovery_target')) {
      output.push(`#BARMAN#${raw}`);
      modified.push({ line: output.length - 1, text: `#BARMAN#${raw}` });
      changed = true;
    } else {
      output.push(raw);
      if (name !== undefined && REVIEW.has(name)) review.push({ line: output.length - 1, text: raw.trim() });
    }
  }
  return { content: output.join('\n'), changed, modified, review };
}

/** Appends settings to a configuration file's text, under a header naming the recovery. */
export function appendSettings(content: string, header: string, lines: readonly string[]): string {
  const base = content === '' || content.endsWith('\n') ? content : `${content}\n`;
  return `${base}# ${header}\n${lines.join('\n')}\n`;
}
