import { readFileSync } from 'node:fs';

/** Set by the bundler (scripts/bundle.mjs); absent when running the tsc output directly. */
declare const __BARMAN_TS_VERSION__: string | undefined;

let cached: string | undefined;

/** barman-ts version: injected into the bundle, or read from package.json (dist/src/util/ -> root). */
export function barmanTsVersion(): string {
  if (typeof __BARMAN_TS_VERSION__ === 'string') return __BARMAN_TS_VERSION__;
  if (cached === undefined) {
    const manifest = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    cached = manifest.version;
  }
  return cached;
}
