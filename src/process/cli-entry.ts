/**
 * `bin/barman.js` of this installation, for the processes barman-ts starts of itself (cron's
 * receive-wal, the daemon's runs): the first one found walking up from this module (the esbuild
 * bundle in dist/bundle/ and the tsc output in dist/src/ sit at different depths).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function cliEntry(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(directory, 'bin', 'barman.js');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(directory);
    if (parent === directory) break;
    directory = parent;
  }
  if (process.argv[1]) return process.argv[1];
  throw new Error('cannot find the barman CLI entry (bin/barman.js)');
}
