import type * as z from 'zod/mini';

/**
 * Where an option may be written:
 * - `global-only`: only in `[barman]` (barman_home, log_file, ...).
 * - `global`: in `[barman]`, inherited by every server, or in a server section.
 * - `server`: only in a server (or model) section; a value in `[barman]` is ignored with a warning.
 */
export type OptionScope = 'global-only' | 'global' | 'server';

/** How much barman-ts does with an option today (docs/configuration.md shows it). */
export type OptionSupport =
  | { level: 'full' }
  /**
   * A feature barman-ts does not implement: a server where the option is set (in its section or
   * inherited from [barman]) to anything but its default is disabled, naming file, section,
   * option and `reason`; `check` shows it FAILED. With `effectiveWhen`, the option only does
   * something in Barman under that condition (e.g. `backup_method = snapshot`, itself refused);
   * elsewhere a value set is accepted with a warning that it has no effect.
   */
  | {
      level: 'not-supported';
      reason: string;
      effectiveWhen?: { holds: (values: Readonly<Record<string, unknown>>) => boolean; text: string };
      /** What disables a server, for the docs when the generic sentence does not fit. */
      refusal?: string;
    }
  /**
   * A global-only option of a feature whose command barman-ts does not have (`config-update`),
   * or of Barman's own machinery (its text log format): accepted with a warning.
   */
  | { level: 'ignored'; reason: string };

/** A command-line flag that overrides the option for one run (precedence: defaults < [barman] < [server] < CLI). */
export interface OptionFlag {
  /** commander flag syntax, e.g. `--bwlimit <kbps>` or `--immediate-checkpoint`. */
  flags: string;
  /** For boolean options: the flag that sets false, e.g. `--no-immediate-checkpoint`. */
  negate?: string;
  /** Value of an optional-value flag given bare, e.g. `--reuse-backup` alone means `link`. */
  bareValue?: string;
  commands: readonly string[];
  description: string;
}

export interface OptionSpec<S extends z.ZodMiniType<unknown, string> = z.ZodMiniType<unknown, string>> {
  key: string;
  scope: OptionScope;
  schema: S;
  /** Raw default, interpolated like a user value (`%(barman_home)s/%(name)s`). */
  default?: string;
  description: string;
  /** Barman release that introduced the option, or `barman-ts` for options barman-ts adds. */
  since: string;
  category: OptionCategory;
  /** Allowed in a model section (Barman 3.10+); false for directories and hook scripts. */
  inModel: boolean;
  required?: boolean;
  /** Never printed in clear (conninfo passwords are redacted separately). */
  secret?: boolean;
  support: OptionSupport;
  flag?: OptionFlag;
}

export type OptionCategory =
  | 'General'
  | 'Logging'
  | 'Connection'
  | 'Backup'
  | 'WAL archiving'
  | 'Compression'
  | 'Directories'
  | 'Retention and checks'
  | 'Scheduling'
  | 'Recovery'
  | 'Cloud (S3)'
  | 'Encryption'
  | 'Hooks'
  | 'Not supported by barman-ts';

/** Type-level marker carrying the resolved value type (null when unset and no default). */
export type ResolvedType<O> = O extends OptionSpec<infer S> & { default: string }
  ? z.output<S>
  : O extends { required: true } & OptionSpec<infer S>
    ? z.output<S>
    : O extends OptionSpec<infer S>
      ? z.output<S> | null
      : never;
