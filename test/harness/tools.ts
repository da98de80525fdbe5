/**
 * The Debian packages a test needs, checked up front: a missing interop partner (Debian's
 * barman-cli, say) fails the test at once with the package to install, instead of as a
 * timeout deep inside it. The list is scripts/debian-packages.json, the one that
 * scripts/ensure-deps.mjs installs before `npm test`.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PACKAGE_LIST = fileURLToPath(new URL('../../../scripts/debian-packages.json', import.meta.url));

type PackageName = string;

let proofs: Record<PackageName, string> | undefined;

function proofFiles(): Record<PackageName, string> {
  proofs ??= (JSON.parse(readFileSync(PACKAGE_LIST, 'utf8')) as { test: Record<string, string> }).test;
  return proofs;
}

/** Fails with one clear message naming every missing package (and the file that proves each). */
export function requireDebianPackages(...packages: PackageName[]): void {
  const known = proofFiles();
  const missing = packages.map((name) => {
    const proof = known[name];
    assert.ok(proof, `test asks for '${name}', which scripts/debian-packages.json does not list`);
    return existsSync(proof) ? null : `${name} (${proof})`;
  });
  const absent = missing.filter((entry): entry is string => entry !== null);
  assert.equal(
    absent.length,
    0,
    `this test needs Debian packages that are not installed: ${absent.join(', ')}. ` +
      'Install them (apt-get install -y --no-install-recommends ' +
      `${packages.join(' ')}), or run npm test as root, whose pretest installs them.`,
  );
}
