/**
 * The values of command options checked once, for both command-line parsers, before anything
 * runs: whole numbers against their range (the command then receives numbers) and the options
 * with a check of their own (`backup --name`). A refusal is a usage error (exit 2), as Barman's.
 */
import type { CommandDefinition } from '../commands/definition.js';
import { UsageError } from '../errors/index.js';
import { checkWholeNumber } from '../util/whole-number.js';
import { optionAttribute } from './quick-argv.js';

export function checkOptionValues(definition: CommandDefinition, options: Record<string, unknown>): void {
  for (const option of definition.options ?? []) {
    const attribute = optionAttribute(option.flags);
    const value = attribute === undefined ? undefined : options[attribute];
    if (typeof value !== 'string') continue;
    const name = /--[a-z0-9-]+/.exec(option.flags)?.[0] ?? option.flags.split(/[ ,]/)[0]!;
    if (option.integer) {
      const checked = checkWholeNumber(value.trim(), option.integer);
      if (typeof checked === 'string') throw new UsageError(`argument ${name}: ${checked}`);
      options[attribute!] = checked;
    }
    const problem = option.check?.(value);
    if (problem) throw new UsageError(`argument ${name}: ${problem}`);
  }
}
