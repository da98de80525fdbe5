/**
 * A small, safe reader and printer for the Python literals found in Barman's backup.info
 * (`tablespaces`, `backup_label`, `copy_stats`, `included_files`, `snapshots_info`).
 *
 * Nothing is ever evaluated: the parser is a recursive-descent reader of the literal syntax only.
 * The mapping is lossless, so `formatPythonLiteral(parsePythonLiteral(repr(x))) === repr(x)`:
 *
 * | Python            | PythonValue                                        |
 * |-------------------|----------------------------------------------------|
 * | `None`            | `null`                                             |
 * | `True` / `False`  | `true` / `false`                                   |
 * | `int`             | `bigint` (arbitrary precision, like Python)        |
 * | `float`           | `number` (so `2.0` stays a float when printed)     |
 * | `str`             | `string`                                           |
 * | `list`            | `PythonValue[]`                                    |
 * | `tuple`           | `PythonTuple`                                      |
 * | `dict`            | `Map` (insertion order kept, any hashable key)     |
 *
 * Not supported (rejected with a PythonLiteralError): bytes, f-strings, triple-quoted strings,
 * `\N{...}` escapes, sets, complex numbers, arithmetic other than a sign on a number.
 */

/** A Python tuple; kept apart from lists so that a round trip prints `(...)` again. */
export class PythonTuple {
  readonly items: readonly PythonValue[];

  constructor(items: Iterable<PythonValue>) {
    this.items = Object.freeze([...items]);
  }
}

/** A Python dict: Map keeps insertion order, as Python 3.7+ dicts do. */
export type PythonDict = Map<PythonValue, PythonValue>;

export type PythonValue =
  null | boolean | bigint | number | string | PythonValue[] | PythonTuple | PythonDict;

/** Bad literal text. `column` is 1-based, counted in UTF-16 code units of the parsed text. */
export class PythonLiteralError extends Error {
  readonly column: number;
  readonly reason: string;

  constructor(reason: string, column: number) {
    super(`${reason} at column ${column}`);
    this.name = 'PythonLiteralError';
    this.reason = reason;
    this.column = column;
  }
}

/** Deeper nesting is refused (Python's own parser stops at about 200 levels). */
const MAX_DEPTH = 200;

/** Parse one Python literal. Surrounding whitespace and `#` comments are allowed. */
export function parsePythonLiteral(text: string): PythonValue {
  const parser = new Parser(text);
  parser.skipSpace();
  if (parser.atEnd()) parser.fail('empty literal', 0);
  const value = parser.parseValue(0);
  parser.skipSpace();
  if (!parser.atEnd()) parser.fail(`unexpected ${describeChar(text, parser.pos)} after the literal`);
  return value;
}

class Parser {
  pos = 0;

  constructor(private readonly text: string) {}

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  fail(reason: string, at: number = this.pos): never {
    throw new PythonLiteralError(reason, at + 1);
  }

  /** Whitespace (newlines included: the values of interest sit inside brackets) and comments. */
  skipSpace(): void {
    const text = this.text;
    while (this.pos < text.length) {
      const c = text[this.pos];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
        this.pos++;
      } else if (c === '\\' && text[this.pos + 1] === '\n') {
        this.pos += 2;
      } else if (c === '#') {
        while (this.pos < text.length && text[this.pos] !== '\n') this.pos++;
      } else {
        return;
      }
    }
  }

  parseValue(depth: number): PythonValue {
    if (depth > MAX_DEPTH) this.fail(`nesting deeper than ${MAX_DEPTH} levels`);
    this.skipSpace();
    if (this.atEnd()) this.fail('unexpected end of input, a value was expected');
    const c = this.text[this.pos]!;
    if (c === '[') return this.parseList(depth);
    if (c === '(') return this.parseParen(depth);
    if (c === '{') return this.parseDict(depth);
    if (c === "'" || c === '"') return this.parseStrings();
    if (c === '-' || c === '+') return this.parseSigned();
    if (isDigit(c) || (c === '.' && isDigit(this.text[this.pos + 1]))) return this.parseNumber(false);
    if (isIdentStart(c)) {
      const start = this.pos;
      const name = this.readIdentifier();
      if (/^[rRuUbBfF]{1,2}$/.test(name) && (this.peek() === "'" || this.peek() === '"')) {
        this.pos = start;
        return this.parseStrings();
      }
      if (name === 'None') return null;
      if (name === 'True') return true;
      if (name === 'False') return false;
      this.fail(`unexpected name '${name}' (only None, True and False are literals)`, start);
    }
    this.fail(`unexpected ${describeChar(this.text, this.pos)}`);
  }

  private peek(offset = 0): string | undefined {
    return this.text[this.pos + offset];
  }

  private readIdentifier(): string {
    const start = this.pos;
    while (this.pos < this.text.length && isIdentPart(this.text[this.pos]!)) this.pos++;
    return this.text.slice(start, this.pos);
  }

  /** Items up to `close`, comma separated, optional trailing comma. `sawComma` reports any comma. */
  private parseItems(
    close: string,
    depth: number,
    first?: PythonValue,
  ): { items: PythonValue[]; sawComma: boolean } {
    const items: PythonValue[] = [];
    let sawComma = false;
    if (first !== undefined) {
      items.push(first);
      this.skipSpace();
      if (this.peek() === ',') {
        this.pos++;
        sawComma = true;
      } else if (this.peek() !== close) {
        this.expected(`',' or '${close}'`);
      }
    }
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) this.fail(`unexpected end of input, '${close}' was expected`);
      if (this.peek() === close) {
        this.pos++;
        return { items, sawComma };
      }
      items.push(this.parseValue(depth + 1));
      this.skipSpace();
      if (this.peek() === ',') {
        this.pos++;
        sawComma = true;
      } else if (this.peek() !== close) {
        this.expected(`',' or '${close}'`);
      }
    }
  }

  private expected(what: string): never {
    if (this.atEnd()) this.fail(`unexpected end of input, ${what} was expected`);
    this.fail(`${what} expected, found ${describeChar(this.text, this.pos)}`);
  }

  private parseList(depth: number): PythonValue[] {
    this.pos++; // [
    return this.parseItems(']', depth).items;
  }

  /** `()` empty tuple, `(x)` parenthesised value, `(x,)` / `(x, y)` tuple. */
  private parseParen(depth: number): PythonValue {
    this.pos++; // (
    this.skipSpace();
    if (this.peek() === ')') {
      this.pos++;
      return new PythonTuple([]);
    }
    const first = this.parseValue(depth + 1);
    this.skipSpace();
    if (this.peek() === ')') {
      this.pos++;
      return first;
    }
    return new PythonTuple(this.parseItems(')', depth, first).items);
  }

  private parseDict(depth: number): PythonDict {
    this.pos++; // {
    const dict: PythonDict = new Map();
    for (;;) {
      this.skipSpace();
      if (this.atEnd()) this.fail("unexpected end of input, '}' was expected");
      if (this.peek() === '}') {
        this.pos++;
        return dict;
      }
      const keyAt = this.pos;
      const key = this.parseValue(depth + 1);
      const unhashable = unhashableType(key);
      if (unhashable !== null) this.fail(`unhashable type '${unhashable}' used as a dict key`, keyAt);
      this.skipSpace();
      if (this.peek() === ',' || this.peek() === '}') this.fail('set literals are not supported');
      if (this.peek() !== ':') this.expected("':'");
      this.pos++;
      const value = this.parseValue(depth + 1);
      // Python keeps the first position and the last value of a repeated key, exactly as Map.set.
      dict.set(dictKey(dict, key), value);
      this.skipSpace();
      if (this.peek() === ',') this.pos++;
      else if (this.peek() !== '}') this.expected("',' or '}'");
    }
  }

  private parseSigned(): bigint | number {
    const signAt = this.pos;
    const negative = this.text[this.pos] === '-';
    this.pos++;
    this.skipSpace();
    const c = this.peek();
    if (c === undefined) this.fail('unexpected end of input, a number was expected after the sign');
    if (!(isDigit(c) || (c === '.' && isDigit(this.peek(1))))) {
      this.fail('a sign is only allowed in front of a number', signAt);
    }
    return this.parseNumber(negative);
  }

  private parseNumber(negative: boolean): bigint | number {
    const start = this.pos;
    const text = this.text;
    let value: bigint | number;
    const radix = /0([xXoObB])/y;
    radix.lastIndex = start;
    if (radix.test(text)) {
      const kind = text[start + 1]!.toLowerCase();
      const digits = kind === 'x' ? '[0-9a-fA-F]' : kind === 'o' ? '[0-7]' : '[01]';
      const re = new RegExp(`0[xXoObB](?:_?${digits})+`, 'y');
      re.lastIndex = start;
      const m = re.exec(text);
      if (m === null) this.fail('invalid number literal', start);
      this.pos = start + m[0].length;
      value = BigInt(m[0].replaceAll('_', ''));
    } else {
      const re = /(\d(?:_?\d)*)?(\.(?:\d(?:_?\d)*)?)?([eE][+-]?\d(?:_?\d)*)?/y;
      re.lastIndex = start;
      const m = re.exec(text)!;
      const [whole, intPart, fraction, exponent] = m;
      if (intPart === undefined && (fraction === undefined || fraction === '.')) {
        this.fail('invalid number literal', start);
      }
      this.pos = start + whole.length;
      if (fraction === undefined && exponent === undefined) {
        if (intPart!.startsWith('0') && /[1-9]/.test(intPart!)) {
          this.fail('leading zeros in decimal integer literals are not permitted', start);
        }
        value = BigInt(intPart!.replaceAll('_', ''));
      } else {
        value = Number(whole.replaceAll('_', ''));
      }
    }
    const next = this.peek();
    if (next === 'j' || next === 'J') this.fail('complex numbers are not supported', start);
    if (next !== undefined && (isIdentPart(next) || next === '.')) {
      this.fail(`invalid number literal (unexpected ${describeChar(text, this.pos)})`, this.pos);
    }
    return negative ? -value : value;
  }

  /** One string literal, or several adjacent ones (Python concatenates `'a' 'b'`). */
  private parseStrings(): string {
    let result = this.parseString();
    for (;;) {
      const save = this.pos;
      this.skipSpace();
      const c = this.peek();
      const prefixed =
        c !== undefined &&
        /[rRuUbBfF]/.test(c) &&
        /^[rRuUbBfF]{0,2}['"]/.test(this.text.slice(this.pos, this.pos + 3));
      if (c === "'" || c === '"' || prefixed) {
        result += this.parseString();
      } else {
        this.pos = save;
        return result;
      }
    }
  }

  private parseString(): string {
    const start = this.pos;
    let raw = false;
    while (this.peek() !== "'" && this.peek() !== '"') {
      const p = this.text[this.pos]!.toLowerCase();
      if (p === 'b') this.fail('bytes literals are not supported', start);
      if (p === 'f') this.fail('f-strings are not literals', start);
      if (p === 'r') raw = true;
      else if (p !== 'u') this.fail('invalid string prefix', start);
      this.pos++;
    }
    const quote = this.text[this.pos]!;
    const openAt = this.pos;
    if (this.text.startsWith(quote.repeat(3), openAt)) {
      this.fail('triple-quoted strings are not supported', openAt);
    }
    this.pos++;
    let out = '';
    const text = this.text;
    for (;;) {
      if (this.pos >= text.length) this.fail('unterminated string literal', openAt);
      const c = text[this.pos]!;
      if (c === quote) {
        this.pos++;
        return out;
      }
      if (c === '\n' || c === '\r') this.fail('unterminated string literal (line break inside)', openAt);
      if (c !== '\\') {
        out += c;
        this.pos++;
        continue;
      }
      const escAt = this.pos;
      const e = text[this.pos + 1];
      if (e === undefined) this.fail('unterminated string literal', openAt);
      if (raw) {
        // In a raw string a backslash only stops the next character from ending the string.
        out += c + e;
        this.pos += 2;
        continue;
      }
      this.pos += 2;
      switch (e) {
        case '\n':
          break;
        case '\\':
        case "'":
        case '"':
          out += e;
          break;
        case 'a':
          out += '\x07';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'v':
          out += '\v';
          break;
        case 'x':
          out += this.hexEscape(2, escAt, '\\xXX');
          break;
        case 'u':
          out += this.hexEscape(4, escAt, '\\uXXXX');
          break;
        case 'U':
          out += this.hexEscape(8, escAt, '\\UXXXXXXXX');
          break;
        case 'N':
          this.fail('\\N{...} escapes are not supported', escAt);
          break;
        default:
          if (e >= '0' && e <= '7') {
            let digits = e;
            while (digits.length < 3 && /[0-7]/.test(text[this.pos] ?? '')) digits += text[this.pos++]!;
            out += String.fromCodePoint(parseInt(digits, 8));
          } else {
            // Python keeps unknown escapes verbatim (with a warning).
            out += c + e;
          }
      }
    }
  }

  private hexEscape(length: number, escAt: number, form: string): string {
    const digits = this.text.slice(this.pos, this.pos + length);
    if (!new RegExp(`^[0-9a-fA-F]{${length}}$`).test(digits)) this.fail(`truncated ${form} escape`, escAt);
    const code = parseInt(digits, 16);
    if (code > 0x10ffff) this.fail('illegal Unicode character in \\U escape', escAt);
    this.pos += length;
    return String.fromCodePoint(code);
  }
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= '0' && c <= '9';
}

function isIdentStart(c: string): boolean {
  return /[A-Za-z_]/.test(c);
}

function isIdentPart(c: string): boolean {
  return /[A-Za-z0-9_]/.test(c);
}

function describeChar(text: string, pos: number): string {
  if (pos >= text.length) return 'end of input';
  const cp = text.codePointAt(pos)!;
  return `character ${formatPythonString(String.fromCodePoint(cp))}`;
}

/** The Python type name that makes a value unusable as a dict key, or null. */
function unhashableType(value: PythonValue): string | null {
  if (Array.isArray(value)) return 'list';
  if (value instanceof Map) return 'dict';
  if (value instanceof PythonTuple) {
    for (const item of value.items) {
      const bad = unhashableType(item);
      if (bad !== null) return bad;
    }
  }
  return null;
}

/**
 * The key under which `key` is stored in `dict`: an existing equal tuple key (Map compares
 * objects by identity, Python tuples by value), or `key` itself.
 */
function dictKey(dict: PythonDict, key: PythonValue): PythonValue {
  if (!(key instanceof PythonTuple)) return key;
  const wanted = formatPythonLiteral(key);
  for (const existing of dict.keys()) {
    if (existing instanceof PythonTuple && formatPythonLiteral(existing) === wanted) return existing;
  }
  return key;
}

// ------------------------------------------------------------------------------------------------
// Printer: Python's repr() for the same types.

/** Python's repr() of a value. Throws TypeError for anything that is not a PythonValue. */
export function formatPythonLiteral(value: PythonValue): string {
  return repr(value, 0);
}

function repr(value: PythonValue, depth: number): string {
  if (depth > 1000) throw new TypeError('value nested too deeply (cyclic?) to print as a Python literal');
  if (value === null) return 'None';
  switch (typeof value) {
    case 'boolean':
      return value ? 'True' : 'False';
    case 'bigint':
      return value.toString();
    case 'number':
      return formatPythonFloat(value);
    case 'string':
      return formatPythonString(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => repr(item, depth + 1)).join(', ')}]`;
  if (value instanceof PythonTuple) {
    const items = value.items.map((item) => repr(item, depth + 1));
    return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  }
  if (value instanceof Map) {
    const entries = [...value].map(([k, v]) => `${repr(k, depth + 1)}: ${repr(v, depth + 1)}`);
    return `{${entries.join(', ')}}`;
  }
  throw new TypeError(`not a Python literal value: ${Object.prototype.toString.call(value)}`);
}

/**
 * Python's repr() of a float: the shortest digits that round-trip (as JavaScript), printed in
 * positional notation when the decimal exponent is in [-4, 16), else as `d.ddde±XX`; integral
 * values keep `.0`.
 */
export function formatPythonFloat(n: number): string {
  if (Number.isNaN(n)) return 'nan';
  if (n === Infinity) return 'inf';
  if (n === -Infinity) return '-inf';
  if (n === 0) return Object.is(n, -0) ? '-0.0' : '0.0';
  const sign = n < 0 ? '-' : '';
  const [mantissa, exponentText] = Math.abs(n).toExponential().split('e') as [string, string];
  const exponent = Number(exponentText);
  const digits = mantissa.replace('.', '');
  if (exponent < -4 || exponent >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = `${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
    return `${sign}${m}e${e}`;
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const intPart = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
  const fraction = digits.slice(exponent + 1);
  return `${sign}${intPart}.${fraction === '' ? '0' : fraction}`;
}

/** Characters Python's str.isprintable() rejects (besides ASCII controls): str repr escapes them. */
const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;

/** Python's repr() of a str: single quotes unless the text has ' and no ", then double quotes. */
export function formatPythonString(s: string): string {
  const quote = s.includes("'") && !s.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\t') out += '\\t';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${hex(cp, 2)}`;
    else if (cp < 0x7f) out += ch;
    else if (!NON_PRINTABLE.test(ch)) out += ch;
    else if (cp <= 0xff) out += `\\x${hex(cp, 2)}`;
    else if (cp <= 0xffff) out += `\\u${hex(cp, 4)}`;
    else out += `\\U${hex(cp, 8)}`;
  }
  return out + quote;
}

function hex(cp: number, width: number): string {
  return cp.toString(16).padStart(width, '0');
}

/** A Python int or float as a JavaScript number (null for anything else). */
export function pythonNumber(value: PythonValue | undefined): number | null {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  return null;
}
