/**
 * Whole numbers typed by the operator (configuration values, command-line options), checked
 * against a range before use. Kept free of zod so the per-WAL command lines can use it.
 */
/** The largest integer an option takes unless it says otherwise (a C int, as PostgreSQL's tools use). */
export const INT_MAX = 2_147_483_647;

/**
 * The longest delay Node can wait for (2^31-1 ms): a longer timer fires at once, which would turn
 * a keep-alive interval into a busy loop. Options in seconds are capped at this.
 */
export const MAX_SECONDS = 2_147_483;

export interface IntRange {
  min?: number;
  /** Defaults to INT_MAX. */
  max?: number;
  /** What the number counts, for messages ("seconds"). */
  unit?: string;
}

/**
 * `digits` (an optional sign and decimal digits) as a number within `range`, or the reason it is
 * not. The reason quotes the digits as typed: a 30-digit number is refused, never rounded to 1e+30.
 */
export function checkWholeNumber(digits: string, range: IntRange = {}): number | string {
  if (!/^[+-]?\d+$/.test(digits)) return `expected an integer, got '${digits}'`;
  const max = range.max ?? INT_MAX;
  const min = range.min ?? -max;
  const unit = range.unit ? ` ${range.unit}` : '';
  const value = Number(digits);
  if (value > max) return `must be at most ${max}${unit}, got ${digits}`;
  if (value < min) return `must be at least ${min}${unit}, got ${digits}`;
  return value;
}

/** Seconds given on the command line or in the configuration, in a timer Node can arm. */
export const SECONDS: IntRange = { min: 0, max: MAX_SECONDS, unit: 'seconds' };

/** A TCP port. */
export const PORT_RANGE: IntRange = { min: 1, max: 65_535 };

/** `argument NAME: why` when `text` is not a whole number in `range`, null when it is. */
export function numberProblem(name: string, text: string, range: IntRange): string | null {
  const checked = checkWholeNumber(text.trim(), range);
  return typeof checked === 'string' ? `argument ${name}: ${checked}` : null;
}
