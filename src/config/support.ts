/**
 * Options of features barman-ts does not implement (support level `not-supported` in the option
 * table): a server where one is set to anything but its default, in its own section or
 * inherited from [barman], is disabled with a message naming file, section and option, so a DBA
 * who sets `encryption = gpg` is told instead of getting unencrypted backups. Also the file-copy
 * options pg_basebackup and local-to-cloud cannot honour.
 */
import type { OptionSpec } from './option-spec.js';
import { OPTION_LIST } from './options.js';
import type { ConfigProblem } from './problems.js';

type Locate = (key: string) => Omit<ConfigProblem, 'severity' | 'message'>;

/** Problems of one server's resolved values; `values` as resolved (defaults applied). */
export function unsupportedOptionProblems(
  values: Readonly<Record<string, unknown>>,
  locate: Locate,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const option of OPTION_LIST) {
    const support = option.support;
    if (support.level !== 'not-supported' || option.scope === 'global-only') continue;
    if (isOff(option, values[option.key])) continue;
    const where = locate(option.key);
    if (support.effectiveWhen && !support.effectiveWhen.holds(values)) {
      problems.push({
        severity: 'warning',
        message: `has no effect: Barman uses it only when ${support.effectiveWhen.text} (${support.reason})`,
        ...where,
      });
      continue;
    }
    const off = option.default === undefined ? null : option.default;
    const fix =
      where.section === 'barman'
        ? `Remove '${option.key}' from [barman] (this server inherits it)` +
          (off === null ? '' : ` or set '${option.key} = ${off}' in this server's section`)
        : `Remove '${option.key}'${off === null ? '' : ` or set it to '${off}'`}`;
    problems.push({
      severity: 'error',
      message: `not supported: ${support.reason}. ${fix} to use this server with barman-ts`,
      ...where,
    });
  }
  return problems;
}

/**
 * Options of the file-copy methods that pg_basebackup and local-to-cloud cannot honour: Barman
 * disables a postgres-method server with them; local-to-cloud (a barman-ts method) does the same.
 */
export function methodOptionProblems(
  values: Readonly<Record<string, unknown>>,
  locate: Locate,
): ConfigProblem[] {
  const method = values.backup_method;
  if (method !== 'postgres' && method !== 'local-to-cloud') return [];
  const problems: ConfigProblem[] = [];
  const refuse = (key: string, what: string) =>
    problems.push({
      severity: 'error',
      message: `${what} is not supported with 'backup_method = ${String(method)}' (only rsync and local-rsync copy file by file): remove '${key}' for this server`,
      ...locate(key),
    });
  if (values.reuse_backup === 'copy' || values.reuse_backup === 'link')
    refuse('reuse_backup', `'reuse_backup = ${String(values.reuse_backup)}'`);
  if (values.tablespace_bandwidth_limit !== null && values.tablespace_bandwidth_limit !== undefined)
    refuse('tablespace_bandwidth_limit', "'tablespace_bandwidth_limit'");
  return problems;
}

/** Unset, empty, false, or the default: the feature is off. */
function isOff(option: OptionSpec, value: unknown): boolean {
  if (value === null || value === undefined || value === false) return true;
  if (option.default === undefined) return false;
  const parsed = option.schema.safeParse(option.default);
  return parsed.success && parsed.data === value;
}
