/** Every table of the bad-input suite (bad-input.test.ts runs them). Add a table here. */
import { catalogTable } from './catalog.js';
import { cliTable } from './cli.js';
import { clientsTable } from './clients.js';
import { concurrencyTable } from './concurrency.js';
import { configTable } from './config.js';
import { postgresTable } from './postgres.js';
import { processesTable } from './processes.js';
import { recoverTable } from './recover.js';
import { trustTable } from './trust.js';
import { verificationTable } from './verification.js';
import { verifyRestoreTable } from './verify-restore.js';
import { walTable } from './wal.js';
import type { CaseTable } from './world.js';

export const TABLES: readonly CaseTable[] = [
  cliTable,
  configTable,
  catalogTable,
  walTable,
  recoverTable,
  concurrencyTable,
  processesTable,
  postgresTable,
  clientsTable,
  trustTable,
  verificationTable,
  verifyRestoreTable,
];
