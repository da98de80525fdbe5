import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { referenceDocuments } from '../../../src/cli/reference-docs.js';
import { OPTION_LIST } from '../../../src/config/index.js';

const docsDir = new URL('../../../../docs/', import.meta.url);

for (const [name, expected] of Object.entries(referenceDocuments())) {
  test(`docs/${name} is up to date with the source (run 'npm run docs' to regenerate)`, () => {
    const committed = readFileSync(new URL(name, docsDir), 'utf8');
    assert.equal(committed, expected);
  });
}

test('docs/configuration.md lists every option with its scope, default and description', () => {
  const doc = referenceDocuments()['configuration.md']!;
  for (const option of OPTION_LIST) {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${option.key}\` |`));
    assert.ok(row, `no row for ${option.key}`);
    assert.ok(option.description.length > 10, `${option.key} needs a real description`);
    if (option.default !== undefined)
      assert.ok(row.includes(`\`${option.default}\``) || option.default === '');
  }
});
