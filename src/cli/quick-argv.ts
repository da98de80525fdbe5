/**
 * The command lines PostgreSQL runs for every WAL file (archive_command, restore_command) parsed
 * without commander: loading and building the full program costs about a tenth of the
 * acknowledgement budget of `cloud-wal-archive --async`. Only plain shapes are recognised — the
 * global -c/--config and -q/--quiet, then one of QUICK_COMMANDS with its own simple options and
 * exactly its positional arguments. Anything else returns undefined and commander parses it (and
 * reports the usage errors), so both parsers must agree on what this one accepts: a unit test
 * compares them.
 */
import type { CommandDefinition, CommandOption } from '../commands/definition.js';
import type { ParsedInvocation } from './program.js';

export const QUICK_COMMANDS: ReadonlySet<string> = new Set(['cloud-wal-archive', 'put-wal', 'get-wal']);

interface FlagShape {
  attribute: string;
  takesValue: boolean;
}

export function parseQuickCommandLine(
  argv: readonly string[],
  commands: readonly CommandDefinition[],
): ParsedInvocation | undefined {
  let index = 0;
  let config: string | undefined;
  let quiet = false;
  for (; index < argv.length; index += 1) {
    const token = argv[index]!;
    if (token === '-q' || token === '--quiet') quiet = true;
    else if (token === '-c' || token === '--config') {
      config = argv[index + 1];
      if (config === undefined) return undefined;
      index += 1;
    } else if (token.startsWith('--config=')) config = token.slice('--config='.length);
    else break;
  }
  const definition = commands.find((command) => command.name === argv[index]);
  if (!definition || !QUICK_COMMANDS.has(definition.name)) return undefined;
  const flags = flagTable(definition.options ?? []);
  if (!flags) return undefined;

  const options: Record<string, unknown> = {};
  for (const option of definition.options ?? []) {
    if (option.defaultValue !== undefined) options[flagShape(option.flags)!.attribute] = option.defaultValue;
  }
  const positionals: string[] = [];
  for (index += 1; index < argv.length; index += 1) {
    const token = argv[index]!;
    if (!token.startsWith('-') || token === '-') {
      positionals.push(token);
      continue;
    }
    const equals = token.startsWith('--') ? token.indexOf('=') : -1;
    const name = equals > 0 ? token.slice(0, equals) : token;
    const shape = flags.get(name);
    if (!shape) return undefined;
    if (!shape.takesValue) {
      if (equals > 0) return undefined;
      options[shape.attribute] = true;
    } else if (equals > 0) {
      options[shape.attribute] = token.slice(equals + 1);
    } else {
      const value = argv[index + 1];
      if (value === undefined || value.startsWith('-')) return undefined;
      options[shape.attribute] = value;
      index += 1;
    }
  }
  const expected = definition.arguments ?? [];
  if (
    positionals.length !== expected.length ||
    expected.some((argument) => argument.required === false || argument.variadic)
  )
    return undefined;
  const args: ParsedInvocation['args'] = {};
  expected.forEach((argument, position) => {
    args[argument.name] = positionals[position];
  });
  const globals: ParsedInvocation['globals'] = { format: 'console' };
  if (config !== undefined) globals.config = config;
  if (quiet) globals.quiet = true;
  return { definition, args, options, overrides: {}, globals };
}

/** Every spelling of each option (`-t`, `--test`), or undefined when one is not a plain flag. */
function flagTable(options: readonly CommandOption[]): Map<string, FlagShape> | undefined {
  const table = new Map<string, FlagShape>();
  for (const option of options) {
    if (option.choices || option.repeatable) return undefined;
    const shape = flagShape(option.flags);
    if (!shape) return undefined;
    for (const spelling of option.flags.split(/[ ,]+/).filter((word) => word.startsWith('-')))
      table.set(spelling, shape);
  }
  return table;
}

/** The attribute (`outputDirectory`) under which a command option's value arrives. */
export function optionAttribute(flags: string): string | undefined {
  return flagShape(flags)?.attribute;
}

/** `-o, --output-directory <dir>` -> outputDirectory with a value; `-x` -> x without. */
function flagShape(flags: string): FlagShape | undefined {
  const match = /^(?:-([a-zA-Z]))?(?:,?\s*--([a-z0-9][a-z0-9-]*))?(?:\s+<[^>]+>)?$/.exec(flags);
  if (!match || (!match[1] && !match[2]) || match[2]?.startsWith('no-')) return undefined;
  const long = match[2];
  const attribute = long
    ? long.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase())
    : match[1]!;
  return { attribute, takesValue: flags.includes('<') };
}
