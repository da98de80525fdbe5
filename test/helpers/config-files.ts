import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after } from 'node:test';

/** Writes `files` (relative path -> text) into a fresh temp directory removed after the tests. */
export function writeConfigFiles(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'barman-ts-config-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text.replaceAll('@DIR@', dir));
  }
  return dir;
}
