/**
 * The contract between the CLI and a command. A definition is cheap to import (the CLI builds
 * its help from all of them); the implementation is loaded only when the command runs, so the
 * archive_command path never pays for code it does not use.
 */
import type { BarmanConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Reporter } from '../output/reporter.js';
import type { IntRange } from '../util/whole-number.js';

export interface CommandArgument {
  name: string;
  description: string;
  required?: boolean;
  variadic?: boolean;
}

export interface CommandOption {
  /** commander syntax: `-o, --output-directory <dir>`, `--minimal`. */
  flags: string;
  description: string;
  choices?: readonly string[];
  defaultValue?: string | boolean;
  /** May be given several times: the values arrive as an array. */
  repeatable?: boolean;
  /** A whole number in this range: the command receives a number (checked before it runs). */
  integer?: IntRange;
  /** Why a value is refused (a usage error before the command runs), or null when it is fine. */
  check?: (value: string) => string | null;
}

export interface CommandInput {
  /** Positional arguments by name (variadic ones as arrays). */
  args: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Command options by commander's camelCase name. */
  options: Readonly<Record<string, unknown>>;
  /** Values of option-table flags given on the command line, by option key (highest precedence). */
  overrides: Readonly<Record<string, unknown>>;
}

export interface CommandContext {
  readonly config: BarmanConfig;
  readonly report: Reporter;
  readonly log: Logger;
  readonly format: OutputFormat;
  readonly version: string;
}

export type OutputFormat = 'console' | 'json';

export interface RenderStyle {
  color: boolean;
}

export interface CommandModule<T> {
  run(ctx: CommandContext, input: CommandInput): Promise<T>;
  /** Console lines for stdout. */
  renderConsole(data: T, style: RenderStyle): string[];
  /**
   * The result's keys in the `-f json` document (null: none); the CLI adds the messages the run
   * reported (`_INFO`, `_WARNING`, `_ERROR`), as Barman does.
   */
  renderJson(data: T): Readonly<Record<string, unknown>> | null;
  /**
   * Binary data for stdout (e.g. a WAL file from get-wal), written after the result is computed
   * and instead of the rendered output; resolves false when this result has none to write.
   */
  writeRaw?(data: T, stdout: NodeJS.WritableStream): Promise<boolean>;
  /** Exit code for a result (default 0; any reported ERROR makes it at least 1). */
  exitCode?(data: T): number;
}

export interface CommandDefinition {
  name: string;
  aliases?: readonly string[];
  summary: string;
  arguments?: readonly CommandArgument[];
  options?: readonly CommandOption[];
  /** False for commands that work without a configuration file. */
  usesConfig: boolean;
  /** Output is always JSON (e.g. `diagnose`), whatever `-f` says. */
  alwaysJson?: boolean;
  load(): Promise<CommandModule<unknown>>;
}

/** Keeps the typed result of a command module while storing it in the untyped registry. */
export function defineCommandModule<T>(module: CommandModule<T>): CommandModule<unknown> {
  return module;
}
