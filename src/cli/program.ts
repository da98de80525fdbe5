/**
 * Builds the commander program from the command registry and the option table. The only
 * importer of commander.
 */
import { Command, CommanderError, Option } from 'commander';
import type { CommandDefinition } from '../commands/definition.js';
import type { OptionFlag, OptionSpec } from '../config/index.js';
import { optionFlagsFor } from '../config/index.js';
import { UsageError } from '../errors/index.js';

export interface GlobalOptions {
  config?: string;
  quiet?: boolean;
  debug?: boolean;
  format: 'console' | 'json';
  color?: 'auto' | 'always' | 'never';
  colour?: 'auto' | 'always' | 'never';
}

export interface ParsedInvocation {
  definition: CommandDefinition;
  args: Record<string, string | readonly string[] | undefined>;
  options: Record<string, unknown>;
  /** Option-table overrides (CLI flags), by option key, parsed by the option's schema. */
  overrides: Record<string, unknown>;
  globals: GlobalOptions;
}

export type ParseOutcome =
  | { kind: 'run'; invocation: ParsedInvocation }
  /** Help or version was printed, or a usage error was reported. */
  | { kind: 'exit'; exitCode: number };

const COLOR_CHOICES = ['auto', 'always', 'never'] as const;

export function parseCommandLine(
  argv: readonly string[],
  commands: readonly CommandDefinition[],
  version: string,
  write: { out: (text: string) => void; err: (text: string) => void },
): ParseOutcome {
  let invocation: ParsedInvocation | undefined;
  const program = new Command('barman')
    .description('barman-ts: backup and recovery manager for PostgreSQL (Barman-compatible)')
    .option(
      '-c, --config <file>',
      'configuration file (default: $BARMAN_CONFIG_FILE, ~/.barman.conf, /etc/barman.conf, /etc/barman/barman.conf)',
    )
    .option(
      '-q, --quiet',
      'be quiet: no output, only warnings and errors on stderr (get-wal still writes the segment)',
    )
    .option('-d, --debug', 'print debug messages on stderr')
    .addOption(
      new Option('-f, --format <format>', 'output format').choices(['console', 'json']).default('console'),
    )
    .addOption(new Option('--color <when>', 'colored output').choices(COLOR_CHOICES))
    .addOption(new Option('--colour <when>').choices(COLOR_CHOICES).hideHelp())
    .version(
      `${version}\n\nbarman-ts: Barman-compatible backup and recovery manager for PostgreSQL`,
      '-v, --version',
      'show the version and exit',
    )
    .helpCommand(false)
    .exitOverride()
    .configureOutput({
      writeOut: write.out,
      writeErr: write.err,
      outputError: (text, emit) => emit(`ERROR: ${text.replace(/^error: /, '')}`),
    })
    .showSuggestionAfterError(true);
  for (const { flag } of optionFlagsFor('*')) addFlag(program, flag);

  for (const definition of commands) {
    const command = program.command(definition.name).description(definition.summary);
    if (definition.aliases) command.aliases([...definition.aliases]);
    for (const argument of definition.arguments ?? []) {
      const name = `${argument.name}${argument.variadic ? '...' : ''}`;
      command.argument(argument.required === false ? `[${name}]` : `<${name}>`, argument.description);
    }
    for (const option of definition.options ?? []) {
      const commanderOption = new Option(option.flags, option.description);
      if (option.choices) commanderOption.choices(option.choices);
      if (option.defaultValue !== undefined) commanderOption.default(option.defaultValue);
      if (option.repeatable)
        commanderOption.argParser((value: string, previous: unknown) => [
          ...(Array.isArray(previous) ? (previous as string[]) : []),
          value,
        ]);
      command.addOption(commanderOption);
    }
    const flags = optionFlagsFor(definition.name);
    for (const { flag } of flags) addFlag(command, flag);
    command.action((...actionArgs: unknown[]) => {
      const self = actionArgs.at(-1) as Command;
      const args: ParsedInvocation['args'] = {};
      (definition.arguments ?? []).forEach((argument, index) => {
        args[argument.name] = actionArgs[index] as string | string[] | undefined;
      });
      const options = self.opts();
      const globals = program.opts<GlobalOptions>();
      invocation = {
        definition,
        args,
        options,
        overrides: {
          ...collectOverrides(optionFlagsFor('*'), globals as unknown as Record<string, unknown>),
          ...collectOverrides(flags, options),
        },
        globals,
      };
    });
  }

  // Our own help command: commander's prints the general help, exit 0, for an unknown command.
  program
    .command('help [command]')
    .description('show help for a command')
    .action((name: string | undefined) => {
      if (name === undefined) return program.outputHelp();
      const command = program.commands.find(
        (candidate) => candidate.name() === name || candidate.aliases().includes(name),
      );
      if (!command) {
        throw new UsageError(`unknown command '${name}'`, "run 'barman help' for the list of commands");
      }
      command.outputHelp();
    });

  if (argv.length === 0) {
    write.err(program.helpInformation());
    write.err('ERROR: a command is required\n');
    return { kind: 'exit', exitCode: 2 };
  }
  try {
    program.parse([...argv], { from: 'user' });
  } catch (error) {
    if (error instanceof UsageError) {
      write.err(`ERROR: ${error.message}\n`);
      if (error.hint) write.err(`HINT: ${error.hint}\n`);
      return { kind: 'exit', exitCode: 2 };
    }
    if (error instanceof CommanderError) {
      // Options but no command: commander prints the help as an error.
      if (error.code === 'commander.help' && error.exitCode !== 0) {
        write.err('ERROR: a command is required\n');
        return { kind: 'exit', exitCode: 2 };
      }
      const printedOnly = ['commander.version', 'commander.helpDisplayed', 'commander.help'].includes(
        error.code,
      );
      return { kind: 'exit', exitCode: printedOnly ? 0 : 2 };
    }
    throw error;
  }
  if (!invocation) return { kind: 'exit', exitCode: 0 };
  return { kind: 'run', invocation };
}

function addFlag(command: Command, flag: OptionFlag): void {
  command.addOption(new Option(flag.flags, flag.description));
  if (flag.negate) command.addOption(new Option(flag.negate, `do not ${flag.description}`));
}

/** commander's attribute name for a flag: `--bwlimit <kbps>` -> `bwlimit`, `-j, --jobs <n>` -> `jobs`. */
function attributeName(flags: string): string {
  const long = /--(?:no-)?([a-z0-9-]+)/.exec(flags)?.[1] ?? flags;
  return long.replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

function collectOverrides(
  flags: ReadonlyArray<{ option: OptionSpec; flag: OptionFlag }>,
  values: Record<string, unknown>,
): Record<string, unknown> {
  const overrides: Record<string, unknown> = {};
  for (const { option, flag } of flags) {
    const value = values[attributeName(flag.flags)];
    if (value === undefined) continue;
    // A bare flag is `true` (or its declared bare value); a negated one (`--no-x`) is `false`.
    const raw =
      value === true
        ? (flag.bareValue ?? 'true')
        : value === false
          ? 'false'
          : typeof value === 'string'
            ? value
            : JSON.stringify(value);
    const parsed = option.schema.safeParse(raw);
    if (!parsed.success) {
      const name = /--[a-z0-9-]+/.exec(flag.flags)?.[0] ?? flag.flags;
      throw new UsageError(`argument ${name}: ${parsed.error.issues[0]?.message ?? 'invalid value'}`);
    }
    overrides[option.key] = parsed.data;
  }
  return overrides;
}
