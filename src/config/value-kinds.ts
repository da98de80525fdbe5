/**
 * The value kinds of configuration options: each is a zod schema that takes the raw INI string
 * (already interpolated and unquoted) and yields a typed value, or an issue whose message says
 * what was expected. Error messages are shown to operators as-is.
 */
import * as z from 'zod/mini';
import type { IntRange } from '../util/whole-number.js';
import { checkWholeNumber, SECONDS } from '../util/whole-number.js';

export { MAX_SECONDS } from '../util/whole-number.js';

type Ctx = z.core.ParsePayload<unknown>;

/** A string schema whose value is turned into T by `parse` (zod/mini keeps the start-up cost low). */
function fromString<T>(parse: (raw: string, ctx: Ctx) => T) {
  return z.pipe(z.string(), z.transform<string, T>(parse));
}

function fail(ctx: Ctx, message: string): never {
  ctx.issues.push({ code: 'custom', message, input: ctx.value });
  return z.NEVER;
}

const TRUE_WORDS = new Set(['true', 't', 'yes', 'y', '1', 'on']);
const FALSE_WORDS = new Set(['false', 'f', 'no', 'n', '0', 'off']);

/** Strips an inline `; comment` or `# comment` that follows whitespace; only used for typed values. */
function withoutInlineComment(raw: string): string {
  return raw.replace(/\s+[;#].*$/, '').trim();
}

export const bool = () =>
  fromString((raw, ctx) => {
    const word = withoutInlineComment(raw).toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
    return fail(ctx, `expected a boolean (on/off, true/false, yes/no, 1/0), got '${raw}'`);
  });

export const int = (range: IntRange = {}) =>
  fromString((raw, ctx) => {
    const text = withoutInlineComment(raw);
    if (!/^[+-]?\d+$/.test(text)) return fail(ctx, `expected an integer, got '${raw}'`);
    const value = checkWholeNumber(text, range);
    return typeof value === 'string' ? fail(ctx, value) : value;
  });

/** A number of seconds, 0 or more, that a timer can wait for. */
export const seconds = () => int(SECONDS);

/** The ranges of a cron expression's fields, seconds first (day of week: 0 and 7 are Sunday). */
const CRON_FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

/**
 * A cron expression for the daemon's schedules: 5 fields (minute … day of week) or 6 (seconds
 * first). Checked here cheaply, without the scheduler's library (every command loads the
 * configuration, archive_command too): the number of fields, their characters, every number
 * within its field's range and no step of 0. `barman daemon` validates every field again with
 * node-cron (names, L, W, #) before it schedules anything.
 */
export const cronExpression = () =>
  fromString((raw, ctx) => {
    const fields = withoutInlineComment(raw)
      .split(/\s+/)
      .filter((field) => field !== '');
    if (fields.length !== 5 && fields.length !== 6)
      return fail(ctx, `expected a cron expression of 5 or 6 fields, got '${raw}'`);
    const specs = CRON_FIELDS.slice(6 - fields.length);
    for (const [index, field] of fields.entries()) {
      const spec = specs[index]!;
      if (!/^[0-9A-Za-z*?,/#-]+$/.test(field))
        return fail(ctx, `'${field}' is not a cron ${spec.name} field`);
      if (/\/0+(?:,|$)/.test(field)) return fail(ctx, `'${field}': a step of 0 in the ${spec.name} field`);
      for (const part of field.split(',')) {
        const [range] = part.split('/');
        for (const number of range!.match(/\d+/g) ?? []) {
          const value = Number(number);
          if (range!.includes('#') && !range!.startsWith(number)) continue;
          if (value < spec.min || value > spec.max)
            return fail(
              ctx,
              `${number} is out of range for the ${spec.name} (${spec.min}-${spec.max}) in '${raw}'`,
            );
        }
      }
    }
    return fields.join(' ');
  });

export const text = () => z.string();

export const nonEmptyText = () =>
  fromString((raw, ctx) => (raw.trim() === '' ? fail(ctx, 'must not be empty') : raw));

export const oneOf = <const T extends readonly string[]>(choices: T, options: { lowerCase?: boolean } = {}) =>
  fromString((raw, ctx): T[number] => {
    const word = withoutInlineComment(raw);
    const candidate = options.lowerCase === false ? word : word.toLowerCase();
    if ((choices as readonly string[]).includes(candidate)) return candidate;
    return fail(ctx, `expected one of ${choices.join(', ')}, got '${raw}'`);
  });

/** Comma-separated set of words from `choices` (e.g. backup_options); empty means none. */
export const wordSet = <const T extends readonly string[]>(choices: T) =>
  fromString((raw, ctx): Array<T[number]> => {
    const words = withoutInlineComment(raw)
      .split(',')
      .map((word) => word.trim().toLowerCase())
      .filter((word) => word !== '');
    const unknown = words.filter((word) => !(choices as readonly string[]).includes(word));
    if (unknown.length > 0)
      return fail(
        ctx,
        `unknown value(s) ${unknown.map((w) => `'${w}'`).join(', ')}; allowed: ${choices.join(', ')}`,
      );
    return [...new Set(words)].sort();
  });

const UNIT_SECONDS = { hour: 3600, day: 86_400, week: 7 * 86_400, month: 31 * 86_400 } as const;

/** Intervals and recovery windows: up to 100 years (a date computed from them stays valid). */
const MAX_INTERVAL_SECONDS = 100 * 12 * UNIT_SECONDS.month;

export type RetentionPolicy =
  | { kind: 'redundancy'; copies: number }
  | { kind: 'recovery-window'; count: number; unit: 'day' | 'week' | 'month' };

export function formatRetentionPolicy(policy: RetentionPolicy): string {
  if (policy.kind === 'redundancy') return `REDUNDANCY ${policy.copies}`;
  return `RECOVERY WINDOW OF ${policy.count} ${policy.unit.toUpperCase()}S`;
}

export const retentionPolicy = () =>
  fromString((raw, ctx): RetentionPolicy => {
    const value = withoutInlineComment(raw);
    const redundancy = /^redundancy\s+(\d+)$/i.exec(value);
    if (redundancy) {
      const copies = checkWholeNumber(redundancy[1]!, { min: 1 });
      if (typeof copies === 'string') return fail(ctx, `REDUNDANCY ${copies}`);
      return { kind: 'redundancy', copies };
    }
    const window = /^recovery\s+window\s+of\s+(\d+)\s+(day|week|month)s?$/i.exec(value);
    if (window) {
      const unit = window[2]!.toLowerCase() as 'day' | 'week' | 'month';
      const count = checkWholeNumber(window[1]!, { min: 1, max: MAX_INTERVAL_SECONDS / UNIT_SECONDS[unit] });
      if (typeof count === 'string') return fail(ctx, `the recovery window ${count} ${unit}s`);
      return { kind: 'recovery-window', count, unit };
    }
    return fail(ctx, `expected 'REDUNDANCY <n>' or 'RECOVERY WINDOW OF <n> DAYS|WEEKS|MONTHS', got '${raw}'`);
  });

/** barman-ts's GFS retention: how many daily, weekly and monthly backups to keep. */
export interface GfsPolicy {
  daily: number;
  weekly: number;
  monthly: number;
}

export function formatGfsPolicy(policy: GfsPolicy): string {
  return `${policy.daily} DAILY, ${policy.weekly} WEEKLY, ${policy.monthly} MONTHLY`;
}

/** `<n> DAILY, <n> WEEKLY, <n> MONTHLY`, in any order; an omitted period keeps none. */
export const gfsPolicy = () =>
  fromString((raw, ctx): GfsPolicy => {
    const expected = `expected '<n> DAILY, <n> WEEKLY, <n> MONTHLY' (any of them, in any order), got '${raw}'`;
    const policy: GfsPolicy = { daily: 0, weekly: 0, monthly: 0 };
    const seen = new Set<string>();
    for (const part of withoutInlineComment(raw).split(',')) {
      const match = /^\s*(\d+)\s+(daily|weekly|monthly)\s*$/i.exec(part);
      if (!match) return fail(ctx, expected);
      const period = match[2]!.toLowerCase() as keyof GfsPolicy;
      if (seen.has(period)) return fail(ctx, `${period.toUpperCase()} is given twice in '${raw}'`);
      seen.add(period);
      const count = checkWholeNumber(match[1]!, { min: 0, max: 10_000 });
      if (typeof count === 'string') return fail(ctx, `${count} ${period.toUpperCase()}`);
      policy[period] = count;
    }
    if (policy.daily + policy.weekly + policy.monthly === 0)
      return fail(ctx, `keeps no backup at all: ${expected}`);
    return policy;
  });

/** Barman's time interval: `<n> day|week|month|hour[s]` (a month is 31 days). Value in seconds. */
export interface Interval {
  count: number;
  unit: 'hour' | 'day' | 'week' | 'month';
  seconds: number;
}

export const interval = () =>
  fromString((raw, ctx): Interval => {
    const match = /^\s*(\d+)\s+(day|month|week|hour)s?\s*$/i.exec(withoutInlineComment(raw));
    if (!match) return fail(ctx, `expected '<n> HOURS|DAYS|WEEKS|MONTHS', got '${raw}'`);
    const unit = match[2]!.toLowerCase() as Interval['unit'];
    const count = checkWholeNumber(match[1]!, { min: 0, max: MAX_INTERVAL_SECONDS / UNIT_SECONDS[unit] });
    if (typeof count === 'string') return fail(ctx, `${count} ${unit}s`);
    return { count, unit, seconds: count * UNIT_SECONDS[unit] };
  });

/**
 * A duration for barman-ts's own options: `<n> second|minute|hour|day|week[s]` (a bare number is
 * seconds). Value in seconds.
 */
export const duration = (options: { minSeconds?: number } = {}) =>
  fromString((raw, ctx): number => {
    const match = /^\s*(\d+)\s*(seconds?|minutes?|hours?|days?|weeks?)?\s*$/i.exec(withoutInlineComment(raw));
    if (!match)
      return fail(ctx, `expected '<n> SECONDS|MINUTES|HOURS|DAYS|WEEKS' (e.g. 30 minutes), got '${raw}'`);
    const unit = (match[2] ?? 'seconds').toLowerCase().replace(/s$/, '');
    const factor = { second: 1, minute: 60, hour: 3600, day: 86_400, week: 7 * 86_400 }[unit]!;
    const count = checkWholeNumber(match[1]!, { min: 0, max: Math.floor(MAX_INTERVAL_SECONDS / factor) });
    if (typeof count === 'string') return fail(ctx, `${count} ${unit}s`);
    const minimum = options.minSeconds ?? 0;
    if (count * factor < minimum)
      return fail(ctx, `must be at least ${minimum} second${minimum === 1 ? '' : 's'}, got '${raw.trim()}'`);
    return count * factor;
  });

export function formatInterval(value: Interval): string {
  return `${value.count} ${value.unit}${value.count === 1 ? '' : 's'}`;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  ki: 1024,
  m: 1e6,
  mi: 1024 ** 2,
  g: 1e9,
  gi: 1024 ** 3,
  t: 1e12,
  ti: 1024 ** 4,
};

/** Barman's size syntax: `<int>[ ](k|Ki|M|Mi|G|Gi|T|Ti)`, bare integer = bytes; an optional trailing B is accepted. */
export const size = () =>
  fromString((raw, ctx): number => {
    const match = /^(\d+)\s*([kmgt]i?)?b?$/i.exec(withoutInlineComment(raw));
    if (!match) return fail(ctx, `expected a size such as 1024, 10 MiB, 100G, got '${raw}'`);
    const bytes = Number(match[1]) * SIZE_UNITS[(match[2] ?? '').toLowerCase()]!;
    if (!Number.isSafeInteger(bytes)) return fail(ctx, `must be at most 8 PiB, got '${raw}'`);
    return bytes;
  });

export const slotName = () =>
  fromString((raw, ctx) => {
    const value = withoutInlineComment(raw).toLowerCase();
    if (!/^[0-9a-z_]+$/.test(value))
      return fail(
        ctx,
        `replication slot names may contain only lower-case letters, digits and '_', got '${raw}'`,
      );
    return value;
  });

/** A local directory, or for options that allow it an object-store URL (`s3://bucket/prefix`). */
export type Location =
  { kind: 'posix'; path: string } | { kind: 's3'; bucket: string; prefix: string; url: string };

export function formatLocation(location: Location): string {
  return location.kind === 'posix' ? location.path : location.url;
}

/** A path or URL with a line break comes from an indented line below it (a continuation line). */
function controlCharacterProblem(value: string): string | null {
  // eslint-disable-next-line no-control-regex
  if (!/[\u0000-\u001f\u007f]/.test(value)) return null;
  return `must not contain a line break or control character, got ${JSON.stringify(value)} (an indented line continues the value above it)`;
}

export const location = (options: { allowS3: boolean }) =>
  fromString((raw, ctx): Location => {
    const value = raw.trim();
    if (value === '') return fail(ctx, 'must not be empty');
    const control = controlCharacterProblem(value);
    if (control) return fail(ctx, control);
    const s3 = /^s3:\/\/([^/]+)\/?(.*)$/.exec(value);
    if (!s3 && value.startsWith('s3://'))
      return fail(ctx, `'${raw}' names no bucket: use s3://BUCKET/PREFIX`);
    if (s3) {
      if (!options.allowS3) return fail(ctx, `object-store URLs are not allowed here, got '${raw}'`);
      const bucket = s3[1]!;
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket))
        return fail(ctx, `'${bucket}' is not a valid S3 bucket name`);
      const prefix = s3[2]!.replace(/\/+$/, '');
      return { kind: 's3', bucket, prefix, url: `s3://${bucket}${prefix ? `/${prefix}` : ''}` };
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value))
      return fail(ctx, `unsupported URL scheme in '${raw}' (only s3:// is supported)`);
    if (!value.startsWith('/')) return fail(ctx, `must be an absolute path, got '${raw}'`);
    return { kind: 'posix', path: value.replace(/(.)\/+$/, '$1') };
  });

export const absolutePath = () =>
  fromString((raw, ctx) => {
    const value = raw.trim();
    const control = controlCharacterProblem(value);
    if (control) return fail(ctx, control);
    if (!value.startsWith('/')) return fail(ctx, `must be an absolute path, got '${raw}'`);
    return value.replace(/(.)\/+$/, '$1');
  });

/** `name:kbps name2:kbps` (whitespace separated, as Barman parses it; commas are accepted too). */
export const tablespaceBandwidth = () =>
  fromString((raw, ctx): Record<string, number> => {
    const rules: Record<string, number> = {};
    for (const rule of raw.split(/[\s,]+/).filter(Boolean)) {
      const match = /^([^:]+):(\d+)$/.exec(rule);
      if (!match) return fail(ctx, `invalid rule '${rule}': expected <tablespace>:<kbps>`);
      const kbps = checkWholeNumber(match[2]!, { min: 0 });
      if (typeof kbps === 'string') return fail(ctx, `invalid rule '${rule}': the rate ${kbps}`);
      rules[match[1]!] = kbps;
    }
    return rules;
  });

/** `0x`-prefixed hex bytes (custom_compression_magic). */
export const hexMagic = () =>
  fromString((raw, ctx) => {
    const value = withoutInlineComment(raw);
    if (!/^0x([0-9a-f]{2})+$/i.test(value))
      return fail(ctx, `expected hex bytes such as 0x1f8b, got '${raw}'`);
    return value.toLowerCase();
  });

/** `low`/`medium`/`high` or an integer level. */
export const compressionLevel = () =>
  fromString((raw, ctx): 'low' | 'medium' | 'high' | number => {
    const value = withoutInlineComment(raw).toLowerCase();
    if (value === 'low' || value === 'medium' || value === 'high') return value;
    if (!/^-?\d+$/.test(value)) return fail(ctx, `expected low, medium, high or an integer, got '${raw}'`);
    const level = checkWholeNumber(value);
    return typeof level === 'string' ? fail(ctx, level) : level;
  });

/** libpq conninfo in key=value form; Barman parses it as space-separated pairs. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** `HOST:PORT` (`[v6]:PORT` for IPv6) to listen on, or `off` (null). */
export const listenAddress = () =>
  fromString((raw, ctx): ListenAddress | null => {
    const text = withoutInlineComment(raw);
    if (['off', 'none', 'false', 'no'].includes(text.toLowerCase())) return null;
    const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(text);
    if (!match) return fail(ctx, `expected HOST:PORT (e.g. 127.0.0.1:9780) or off, got '${raw}'`);
    const port = Number(match[3]);
    if (port < 1 || port > 65_535) return fail(ctx, `the port must be 1-65535, got ${port}`);
    return { host: match[1] ?? match[2]!, port };
  });

export const conninfo = () =>
  fromString((raw, ctx) => {
    const value = raw.trim();
    if (value === '') return fail(ctx, 'must not be empty');
    if (!/^postgres(ql)?:\/\//.test(value) && !/\w\s*=/.test(value))
      return fail(ctx, `expected a libpq connection string such as 'host=pg user=barman dbname=postgres'`);
    return value;
  });
