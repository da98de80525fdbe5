import { readFileSync } from 'node:fs';

let cached: string | undefined;

/** barman-ts version from package.json (dist/src/util/ -> package root). */
export function barmanTsVersion(): string {
  if (cached === undefined) {
    const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    cached = manifest.version;
  }
  return cached;
}
