/**
 * Recovery targets: the `recover` options validated into one typed target, before anything is
 * copied. Pure: the current time zone comes in as a parameter so tests can pin it.
 */
import { formatTimestamp } from '../catalog/backup-info.js';
import { BarmanError, UsageError } from '../errors/index.js';
import { formatLsn, parseLsn } from '../wal/names.js';

export type TargetAction = 'pause' | 'promote' | 'shutdown';

/** `current` = the backup's timeline, `latest` = the newest one descending from it. */
export type TimelineRequest = { kind: 'current' } | { kind: 'latest' } | { kind: 'number'; timeline: number };

export type RecoveryTarget =
  | { kind: 'none' }
  | { kind: 'time'; epochMs: number; text: string }
  | { kind: 'xid'; xid: string }
  | { kind: 'lsn'; lsn: bigint }
  | { kind: 'name'; name: string }
  | { kind: 'immediate' };

export interface RecoveryTargetInput {
  targetTime?: string;
  targetXid?: string;
  targetLsn?: string;
  targetName?: string;
  targetImmediate?: boolean;
  targetTli?: string;
  exclusive?: boolean;
  targetAction?: string;
  standbyMode?: boolean;
}

export interface RecoveryTargets {
  target: RecoveryTarget;
  /** Null: not given (PostgreSQL's default, `latest` since PostgreSQL 12). */
  timeline: TimelineRequest | null;
  exclusive: boolean;
  action: TargetAction | null;
  standbyMode: boolean;
}

/**
 * Validates the target options. `utcOffsetMinutesAt` gives the local offset for a wall time
 * (a target time without a zone is read in the barman-ts host's time zone, as Barman does).
 */
export function parseRecoveryTargets(
  input: RecoveryTargetInput,
  utcOffsetMinutesAt: (epochMsAsUtc: number) => number = localOffsetMinutes,
): RecoveryTargets {
  const given = [
    input.targetTime !== undefined && '--target-time',
    input.targetXid !== undefined && '--target-xid',
    input.targetLsn !== undefined && '--target-lsn',
    input.targetName !== undefined && '--target-name',
    input.targetImmediate === true && '--target-immediate',
  ].filter((flag): flag is string => typeof flag === 'string');
  if (given.length > 1) {
    throw new UsageError(
      `You cannot specify multiple targets for the recovery operation (${given.join(', ')})`,
    );
  }
  let target: RecoveryTarget = { kind: 'none' };
  if (input.targetTime !== undefined) {
    const epochMs = parseTargetTime(input.targetTime, utcOffsetMinutesAt);
    // epochMs holds milliseconds: keep the microseconds given in the text written for PostgreSQL.
    const fraction = /\.(\d{1,6})/.exec(input.targetTime)?.[1] ?? '';
    const extraMicros = Number(fraction.padEnd(6, '0').slice(3));
    target = { kind: 'time', epochMs, text: formatTargetTime(epochMs, utcOffsetMinutesAt, extraMicros) };
  } else if (input.targetXid !== undefined) {
    const xid = input.targetXid.trim();
    if (!/^\d+$/.test(xid) || BigInt(xid) > 0xffffffffffffffffn) {
      throw new UsageError(`invalid --target-xid '${input.targetXid}': expected a transaction id (a number)`);
    }
    target = { kind: 'xid', xid: String(BigInt(xid)) };
  } else if (input.targetLsn !== undefined) {
    try {
      target = { kind: 'lsn', lsn: parseLsn(input.targetLsn.trim()) };
    } catch {
      throw new UsageError(`invalid --target-lsn '${input.targetLsn}': expected an LSN such as 0/3000060`);
    }
  } else if (input.targetName !== undefined) {
    if (input.targetName.trim() === '')
      throw new UsageError('--target-name needs the name of a restore point');
    target = { kind: 'name', name: input.targetName };
  } else if (input.targetImmediate === true) {
    target = { kind: 'immediate' };
  }

  const timeline = input.targetTli === undefined ? null : parseTimelineRequest(input.targetTli);
  const exclusive = input.exclusive === true;
  if (exclusive && !['time', 'xid', 'lsn'].includes(target.kind)) {
    throw new UsageError('--exclusive needs --target-time, --target-xid or --target-lsn');
  }
  let action: TargetAction | null = null;
  if (input.targetAction !== undefined) {
    if (!['pause', 'promote', 'shutdown'].includes(input.targetAction)) {
      throw new UsageError(
        `invalid --target-action '${input.targetAction}': expected pause, promote or shutdown`,
      );
    }
    action = input.targetAction as TargetAction;
    if (target.kind === 'none') {
      throw new UsageError(
        "Can't enable recovery target action when PITR is not required",
        'Give a recovery target (--target-time, --target-xid, --target-lsn, --target-name or --target-immediate).',
      );
    }
  }
  return { target, timeline, exclusive, action, standbyMode: input.standbyMode === true };
}

export function parseTimelineRequest(text: string): TimelineRequest {
  const value = text.trim().toLowerCase();
  if (value === 'current') return { kind: 'current' };
  if (value === 'latest') return { kind: 'latest' };
  if (/^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 0xffffffff) {
    return { kind: 'number', timeline: Number(value) };
  }
  // PostgreSQL writes timelines in hex in file names: accept 0x1A too.
  if (/^0x[0-9a-f]{1,8}$/.test(value) && Number(value) >= 1)
    return { kind: 'number', timeline: Number(value) };
  throw new UsageError(`invalid --target-tli '${text}': expected current, latest or a timeline number`);
}

const TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$/i;

/**
 * A target time as PostgreSQL and Barman users write it: `2026-11-21 04:58:30[.123456][+01:00|Z|UTC]`
 * (or with a `T`). Without a zone, the barman-ts host's local time zone is assumed, and the
 * value written for PostgreSQL always carries the offset so the server's own `timezone`
 * setting cannot shift the target.
 */
export function parseTargetTime(
  text: string,
  utcOffsetMinutesAt: (epochMsAsUtc: number) => number = localOffsetMinutes,
): number {
  const match = TIME.exec(text.trim());
  const fail = () =>
    new UsageError(
      `invalid --target-time '${text}'`,
      "Use 'YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]'; without an offset the local time zone of the barman-ts host is used.",
    );
  if (!match) throw fail();
  const [, year, month, day, hour = '0', minute = '0', second = '0', fraction = '', zone] = match;
  const fields = [Number(year), Number(month), Number(day), Number(hour), Number(minute), Number(second)];
  const [y, mo, d, h, mi, s] = fields as [number, number, number, number, number, number];
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) throw fail();
  const wall = Date.UTC(y, mo - 1, d, h, mi, s) + Number(fraction.padEnd(3, '0').slice(0, 3));
  if (new Date(wall).getUTCDate() !== d) throw fail(); // 2026-02-30 and the like
  let offset: number;
  if (zone === undefined) {
    // The offset in force at that wall time (two tries settle DST transitions).
    offset = utcOffsetMinutesAt(wall);
    offset = utcOffsetMinutesAt(wall - offset * 60_000);
  } else if (/^(Z|UTC|GMT)$/i.test(zone)) {
    offset = 0;
  } else {
    const digits = zone.replace(':', '');
    const sign = digits.startsWith('-') ? -1 : 1;
    const [hours, minutes] = [Number(digits.slice(1, 3)), Number(digits.slice(3, 5) || '0')];
    if (hours > 23 || minutes > 59) throw fail(); // +01:75, +24:00
    offset = sign * (hours * 60 + minutes);
  }
  return wall - offset * 60_000;
}

/**
 * `2026-11-21 04:58:30+00:00` (microseconds when present), in the local offset at that time.
 * `extraMicros` (0-999) adds the digits below the millisecond that epochMs cannot hold.
 */
export function formatTargetTime(
  epochMs: number,
  utcOffsetMinutesAt: (epochMsAsUtc: number) => number = localOffsetMinutes,
  extraMicros = 0,
): string {
  // Python's str(datetime), as backup.info times: the catalogue's one formatter.
  return formatTimestamp(new Date(epochMs), utcOffsetMinutesAt(epochMs), extraMicros);
}

/** Local UTC offset (minutes, east positive) at an instant. */
export function localOffsetMinutes(epochMs: number): number {
  return -new Date(epochMs).getTimezoneOffset();
}

/** `key: 'value'` pairs for "Doing PITR. ..." (Barman's wording). */
export function describeTargets(targets: RecoveryTargets, timeline: number | null): string {
  const parts: string[] = [];
  const { target } = targets;
  if (target.kind === 'time') parts.push(`Recovery target time: '${target.text}'`);
  if (target.kind === 'xid') parts.push(`Recovery target xid: '${target.xid}'`);
  if (target.kind === 'lsn') parts.push(`Recovery target LSN: '${formatLsn(target.lsn)}'`);
  if (target.kind === 'name') parts.push(`Recovery target name: '${target.name}'`);
  if (target.kind === 'immediate') parts.push(`Recovery target: 'immediate'`);
  if (timeline !== null) parts.push(`Recovery target timeline: '${timeline}'`);
  return parts.join(', ');
}

/** Errors found comparing a target with the chosen backup. */
export function checkTargetAgainstBackup(
  targets: RecoveryTargets,
  backup: { id: string; endTimeMs: number | null; endTimeText: string | null; endLsn: bigint | null },
): void {
  const { target } = targets;
  if (target.kind === 'time' && backup.endTimeMs !== null && target.epochMs < backup.endTimeMs) {
    throw new BarmanError(
      'target-before-backup',
      `The requested target time ${target.text} is before the backup end time ${backup.endTimeText}`,
      { hint: `Choose an older backup than ${backup.id} (see 'barman list-backup'), or a later target.` },
    );
  }
  if (target.kind === 'lsn' && backup.endLsn !== null && target.lsn < backup.endLsn) {
    throw new BarmanError(
      'target-before-backup',
      `The requested target LSN ${formatLsn(target.lsn)} is before the backup end LSN ${formatLsn(backup.endLsn)}`,
      { hint: `Choose an older backup than ${backup.id}, or a later target.` },
    );
  }
}
