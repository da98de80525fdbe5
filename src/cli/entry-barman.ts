/** Bundle entry of `barman` (see scripts/bundle.mjs). */
import { main } from './main.js';

export async function run(argv: readonly string[]): Promise<number> {
  return main(argv);
}
