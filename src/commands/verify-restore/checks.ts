/**
 * What a restore drill checks once the copy exists: `pg_verifybackup` against the backup's
 * manifest (before PostgreSQL touches the files), `pg_amcheck` (heap tables and B-tree indexes
 * of every database) once recovery has ended, and the probe's freshness. The verdicts from the
 * programs' output are pure functions, tested on their own.
 */
import { describeError } from '../../errors/index.js';
import { runProgramUnchecked } from '../../process/index.js';

export interface CheckVerdict {
  ok: boolean;
  detail: string;
}

/** The files recovery writes or edits in PGDATA (recovery/apply.ts), which the manifest cannot match. */
export const RECOVERY_WRITTEN = [
  'postgresql.conf',
  'postgresql.conf.origin',
  'postgresql.auto.conf',
  'postgresql.auto.conf.origin',
  '.barman-recover.info',
  'recovery.conf',
  'recovery.signal',
  'standby.signal',
  'barman_wal',
  'tablespace_map',
];

/** Lines of a program's report kept in a drill result: enough to name what is wrong. */
const DETAIL_LINES = 6;

/** The copy against its backup_manifest; the WAL copied for recovery parsed too, when there is any. */
export async function verifyBackup(
  program: string,
  data: string,
  manifest: string,
  walDirectory: string | null,
): Promise<CheckVerdict> {
  const ignored = [...RECOVERY_WRITTEN, manifest.slice(data.length + 1)].flatMap((path) => ['-i', path]);
  const wal = walDirectory ? ['-w', walDirectory] : ['-n'];
  const run = await runProgramUnchecked(program, ['-m', manifest, ...ignored, ...wal, data]);
  return verifybackupVerdict(run.exitCode, run.stdout, run.stderr);
}

export function verifybackupVerdict(exitCode: number, stdout: string, stderr: string): CheckVerdict {
  if (exitCode === 0) return { ok: true, detail: firstLines(stdout, 1) || 'backup successfully verified' };
  const errors = stderr
    .split('\n')
    .map((line) => line.replace(/^pg_verifybackup: (error: )?/, '').trim())
    .filter((line) => line !== '' && !line.startsWith('hint:'));
  return { ok: false, detail: summarise(errors, `pg_verifybackup exited with code ${exitCode}`) };
}

/** pg_amcheck of every database (extension installed where missing: the copy is thrown away). */
export async function amcheck(
  program: string,
  connection: { socket: string; port: number; user: string },
): Promise<CheckVerdict> {
  const args = ['-h', connection.socket, '-p', String(connection.port), '-U', connection.user];
  const run = await runProgramUnchecked(program, [...args, '--all', '--install-missing', '--no-password']);
  return amcheckVerdict(run.exitCode, run.stdout, run.stderr);
}

/**
 * pg_amcheck exits 0 when nothing is corrupt, 2 when it found corruption, 1 when it could not
 * run; its report names the relation on one line (`heap table "db.schema.rel":`) and the
 * problem (block, offset) on the next ones, which are joined here.
 */
export function amcheckVerdict(exitCode: number, stdout: string, stderr: string): CheckVerdict {
  if (exitCode === 0) return { ok: true, detail: 'no corruption found in heap tables and B-tree indexes' };
  const findings: string[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    if (/^\s/.test(line) && findings.length > 0) findings[findings.length - 1] += ` ${line.trim()}`;
    else findings.push(line.trim());
  }
  const errors = stderr
    .split('\n')
    .map((line) => line.replace(/^pg_amcheck: (error: )?/, '').trim())
    .filter((line) => line !== '' && !/^(WARNING|DETAIL|HINT):/.test(line));
  const what = exitCode === 2 ? 'corruption found' : `pg_amcheck exited with code ${exitCode}`;
  return { ok: false, detail: `${what}: ${summarise([...findings, ...errors], 'no detail')}` };
}

/**
 * The probe's time against the freshness required: newer than `reference` (the target time,
 * or the backup's end) minus `maxAgeSeconds`. Without a maximum age, any value passes.
 */
export function probeVerdict(
  valueMs: number | null,
  referenceMs: number,
  maxAgeSeconds: number | null,
  referenceName: string,
): CheckVerdict {
  if (valueMs === null) return { ok: false, detail: 'the probe returned no value (NULL)' };
  const value = new Date(valueMs).toISOString();
  if (maxAgeSeconds === null) return { ok: true, detail: `the probe returned ${value}` };
  const oldest = referenceMs - maxAgeSeconds * 1000;
  if (valueMs >= oldest)
    return {
      ok: true,
      detail: `the probe returned ${value}, within ${maxAgeSeconds} s of ${referenceName} ${new Date(referenceMs).toISOString()}`,
    };
  return {
    ok: false,
    detail:
      `stale data: the probe returned ${value}, older than ${new Date(oldest).toISOString()} ` +
      `(${referenceName} ${new Date(referenceMs).toISOString()} minus restore_drill_probe_max_age ${maxAgeSeconds} s)`,
  };
}

function firstLines(text: string, count: number): string {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(0, count)
    .join(' ');
}

function summarise(lines: readonly string[], fallback: string): string {
  if (lines.length === 0) return fallback;
  const shown = lines.slice(0, DETAIL_LINES).join('; ');
  return lines.length > DETAIL_LINES ? `${shown}; … (${lines.length - DETAIL_LINES} more)` : shown;
}

export function failedToRun(program: string, error: unknown): CheckVerdict {
  return { ok: false, detail: `${program} could not run: ${describeError(error)}` };
}
