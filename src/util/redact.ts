/**
 * Secret redaction applied at every boundary where text leaves the process (console, log file,
 * JSON output). Conservative on purpose: masking a harmless value is better than printing a secret.
 */

const MASK = '***';

const patterns: Array<[RegExp, string]> = [
  // libpq key=value conninfo: password='quoted value' or password=bare
  [/(\bpassword\s*=\s*)'(?:\\.|[^'\\])*'/gi, `$1${MASK}`],
  [/(\bpassword\s*=\s*)[^\s'"]+/gi, `$1${MASK}`],
  // URIs with user:password@host (postgresql://, s3 endpoints with basic auth, ...)
  [/(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi, `$1${MASK}@`],
  // AWS credentials and other tokens in KEY=value or key: value form
  [
    /(\b(?:aws_secret_access_key|aws_session_token|secret_access_key|secretaccesskey|session_token|sessiontoken|pgpassword|api[_-]?key|token|secret)\b["']?\s*[=:]\s*["']?)[^\s"',}]+/gi,
    `$1${MASK}`,
  ],
];

export function redactSecrets(text: string): string {
  let result = text;
  for (const [pattern, replacement] of patterns) result = result.replace(pattern, replacement);
  return result;
}

/** Key names whose values are never shown, whatever they contain. */
export const SECRET_KEY_PATTERN = /(password|passphrase|secret|token|credential|access_key)/i;

/** Deep copy of a JSON-like value with secret-named keys masked and strings redacted. */
export function redactValue<T>(value: T): T {
  return redactInner(value) as T;
}

function redactInner(value: unknown): unknown {
  if (typeof value === 'string') return redactSecrets(value);
  if (Array.isArray(value)) return value.map(redactInner);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, inner]) => [
        key,
        SECRET_KEY_PATTERN.test(key) && inner !== null && inner !== undefined && inner !== ''
          ? MASK
          : redactInner(inner),
      ]),
    );
  }
  return value;
}
