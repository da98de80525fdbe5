/**
 * The Barman 3.4 fixture (test/fixtures/barman-3.4): where it is, and its backups by role.
 * backups.tsv names each backup's role; the ids change whenever the fixture is regenerated, so
 * tests take them from here instead of writing them down.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BARMAN34_FIXTURE = fileURLToPath(new URL('../../../test/fixtures/barman-3.4/', import.meta.url));

/** The id of the fixture's backup of `server` whose role starts with `role`. */
export function fixtureBackupId(server: string, role: string): string {
  const row = readFileSync(join(BARMAN34_FIXTURE, 'backups.tsv'), 'utf8')
    .trim()
    .split('\n')
    .slice(1)
    .map((line) => line.split('\t'))
    .find(([name, , roleName]) => name === server && roleName!.startsWith(role));
  if (!row) throw new Error(`test/fixtures/barman-3.4/backups.tsv: no ${server} backup with role ${role}`);
  return row[1]!;
}
