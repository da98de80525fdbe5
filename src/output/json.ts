/**
 * `-f json` documents as Barman 3.4 writes them: one object per run holding the command's result
 * keys plus the messages it printed, in `_INFO`, `_WARNING`, `_ERROR` (and `_DEBUG`) lists, every
 * object's keys sorted, Python's separators (`", "`, `": "`) and ASCII-only strings.
 */

export type JsonMessageLevel = '_INFO' | '_WARNING' | '_ERROR' | '_DEBUG';

export type JsonMessages = Partial<Record<JsonMessageLevel, string[]>>;

/**
 * The command's result object with the collected messages added. A result that carries its own
 * message lists (list-files' `_INFO`) keeps them after the collected ones, the order Barman
 * prints them in.
 */
export function jsonDocument(
  result: Readonly<Record<string, unknown>> | null,
  messages: JsonMessages,
): Record<string, unknown> {
  const document: Record<string, unknown> = { ...result };
  for (const [level, lines] of Object.entries(messages) as Array<[JsonMessageLevel, string[]]>) {
    if (lines.length === 0) continue;
    const own = document[level];
    document[level] = Array.isArray(own) ? [...lines, ...(own as unknown[])] : [...lines];
  }
  return document;
}

/**
 * Python's `json.dumps(value, sort_keys=True)` (or with `indent`): sorted keys at every level,
 * `", "` and `": "` separators (`","` with an indent), non-ASCII characters as `\uXXXX`.
 * `undefined` object values are left out, as JSON.stringify does.
 */
export function pythonJson(value: unknown, indent?: number): string {
  return encode(value, indent, '');
}

function encode(value: unknown, indent: number | undefined, padding: string): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return asciiString(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return asciiString(value.toISOString());
  const inner = indent === undefined ? '' : padding + ' '.repeat(indent);
  const join = (items: string[], open: string, close: string) => {
    if (items.length === 0) return `${open}${close}`;
    if (indent === undefined) return `${open}${items.join(', ')}${close}`;
    return `${open}\n${inner}${items.join(`,\n${inner}`)}\n${padding}${close}`;
  };
  if (Array.isArray(value)) {
    return join(
      value.map((item: unknown) => encode(item, indent, inner)),
      '[',
      ']',
    );
  }
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return join(
      entries.map(([key, item]) => `${asciiString(key)}: ${encode(item, indent, inner)}`),
      '{',
      '}',
    );
  }
  return 'null';
}

function asciiString(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
