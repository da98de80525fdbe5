/** Every command of the CLI: src/commands/'s, and the daemon of src/scheduler/ that runs them. */
import type { CommandDefinition } from '../commands/definition.js';
import { COMMANDS } from '../commands/registry.js';
import { daemonCommand } from '../scheduler/command.js';

export const ALL_COMMANDS: readonly CommandDefinition[] = [...COMMANDS, daemonCommand];
