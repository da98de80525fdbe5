import type { ResolvedType } from './option-spec.js';
import type { OptionKey, OptionTable } from './options.js';
import type { ConfigProblem } from './problems.js';

type KeysWithScope<Scope> = {
  [K in OptionKey]: OptionTable[K]['scope'] extends Scope ? K : never;
}[OptionKey];

export type GlobalOptionKey = KeysWithScope<'global-only'>;
export type ServerOptionKey = KeysWithScope<'global' | 'server'>;

export type GlobalConfig = { readonly [K in GlobalOptionKey]: ResolvedType<OptionTable[K]> };

/** A server's resolved options (defaults < [barman] < [server]); frozen once loaded. */
export type ServerConfig = { readonly [K in ServerOptionKey]: ResolvedType<OptionTable[K]> } & {
  readonly name: string;
  readonly barman_home: string;
  readonly barman_lock_directory: string;
};

/** Where a resolved value came from. */
export type ValueSource =
  | { kind: 'default' }
  | { kind: 'file'; file: string; line: number; section: string }
  /** Set by the server's active configuration model (config-switch), over the server's own value. */
  | { kind: 'model'; model: string; file: string; line: number; section: string };

export interface ServerEntry {
  readonly name: string;
  /** True when the configuration of this server has errors: it is listed and shown, never used. */
  readonly disabled: boolean;
  /** Errors and warnings about this server's configuration, already formatted for operators. */
  readonly problems: readonly ConfigProblem[];
  readonly config: ServerConfig;
  readonly sources: Readonly<Record<string, ValueSource>>;
  /** The configuration model config-switch made active for this server (applied over its values), or null. */
  readonly activeModel: string | null;
}

export interface ModelEntry {
  readonly name: string;
  readonly cluster: string | null;
  /** Every option the section sets (parsed), `model` and `cluster` included; null = `None`. */
  readonly options: Readonly<Record<string, unknown>>;
  /** Where each option was set: the model section of a file. */
  readonly sources: Readonly<Record<string, ValueSource>>;
  readonly problems: readonly ConfigProblem[];
}

export interface BarmanConfig {
  /** The main configuration file. */
  readonly configFile: string;
  /** Every file read, main file first. */
  readonly files: readonly string[];
  readonly global: GlobalConfig;
  /** Raw `[barman]` options as written (after interpolation), for `diagnose`. */
  readonly globalRaw: Readonly<Record<string, string>>;
  /** Servers sorted by name. */
  readonly servers: ReadonlyMap<string, ServerEntry>;
  readonly models: ReadonlyMap<string, ModelEntry>;
  /** Problems not attributable to one server (unreadable included file, unknown [barman] option ...). */
  readonly problems: readonly ConfigProblem[];
}
