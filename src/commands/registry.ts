/**
 * Every command barman-ts offers. Only commands that work are registered; each later capability
 * adds its definition here.
 */
import type { CommandDefinition } from './definition.js';
import { diagnose } from './diagnose/index.js';
import { listServer } from './list-server/index.js';
import { showServer } from './show-server/index.js';

export const COMMANDS: readonly CommandDefinition[] = [diagnose, listServer, showServer];
