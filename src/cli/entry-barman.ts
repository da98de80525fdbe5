/** Bundle entry of `barman` (see scripts/bundle.mjs). */
import { PRIVATE_UMASK } from '../util/private-files.js';
import { main } from './main.js';

export async function run(argv: readonly string[]): Promise<number> {
  // Before anything is created: every file and directory of the catalogue is barman_user's alone.
  process.umask(PRIVATE_UMASK);
  return main(argv);
}
