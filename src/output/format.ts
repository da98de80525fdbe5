/** Formatting shared by renderers, matching Barman's console conventions. */

const SIZE_UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Barman's pretty_size: 1024 units, one decimal, bytes as an integer (`0 B`, `26.1 MiB`). */
export function prettySize(bytes: number): string {
  let value = bytes;
  for (const unit of SIZE_UNITS) {
    if (Math.abs(value) < 1024 || unit === SIZE_UNITS.at(-1)) {
      return unit === 'B' ? `${Math.trunc(value)} B` : `${oneDecimal(value)} ${unit}`;
    }
    value /= 1024;
  }
  return `${bytes} B`;
}

/**
 * Python's `'%.1f'`: like toFixed(1), except that a value exactly halfway between two tenths
 * (x.25 or x.75: the only halves a double holds exactly) goes to the even tenth, where toFixed
 * goes up (781.25 KiB is `781.2 KiB` in Barman).
 */
function oneDecimal(value: number): string {
  const halfway = Number.isInteger(value * 4) && !Number.isInteger(value * 2);
  if (!halfway) return value.toFixed(1);
  const low = Math.floor(value * 10);
  return ((low % 2 === 0 ? low : low + 1) / 10).toFixed(1);
}

/**
 * Python's str() of a value, as Barman prints configuration values in `show-server`:
 * True/False/None, lists and dicts with quoted strings.
 */
export function pythonStr(value: unknown): string {
  if (typeof value === 'string') return value;
  return pythonRepr(value);
}

export function pythonRepr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return quotePython(value);
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(', ')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value).map(([key, inner]) => `${quotePython(key)}: ${pythonRepr(inner)}`);
    return `{${entries.join(', ')}}`;
  }
  return typeof value === 'symbol' ? value.toString() : 'None';
}

function quotePython(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  const escaped = text
    .replace(/\\/g, '\\\\')
    .replace(/\n/g, '\\n')
    .replace(/\t/g, '\\t')
    .replace(new RegExp(quote, 'g'), `\\${quote}`);
  return `${quote}${escaped}${quote}`;
}

/**
 * Python's str() of a Decimal made from PostgreSQL's numeric text (`0.00000000000000000000` ->
 * `0E-20`, `23232201` -> `23232201`), as Barman prints numerics. Other text is returned as is.
 */
export function pythonDecimal(text: string): string {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?$/.exec(text.trim());
  if (!match || (match[2] === '' && !match[3])) return text;
  const sign = match[1] === '-' ? '-' : '';
  const fraction = match[3] ?? '';
  const digits = `${match[2]}${fraction}`.replace(/^0+(?=\d)/, '');
  const exponent = -fraction.length;
  const leftDigits = exponent + digits.length;
  const dotPlace = exponent <= 0 && leftDigits > -6 ? leftDigits : 1;
  let body: string;
  if (dotPlace <= 0) body = `0.${'0'.repeat(-dotPlace)}${digits}`;
  else if (dotPlace >= digits.length) body = `${digits}${'0'.repeat(dotPlace - digits.length)}`;
  else body = `${digits.slice(0, dotPlace)}.${digits.slice(dotPlace)}`;
  const shift = leftDigits - dotPlace;
  return `${sign}${body}${shift === 0 ? '' : `E${shift > 0 ? '+' : ''}${shift}`}`;
}

export type ColorMode = 'auto' | 'always' | 'never';

const ANSI = { green: 32, red: 31, yellow: 33 } as const;

export function paint(text: string, color: keyof typeof ANSI, enabled: boolean): string {
  return enabled ? `\u001b[${ANSI[color]}m${text}\u001b[0m` : text;
}
