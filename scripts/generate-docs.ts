/** `npm run docs`: writes the generated reference pages into docs/. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { referenceDocuments } from '../src/cli/reference-docs.js';

const docsDir = new URL('../../docs/', import.meta.url).pathname;
for (const [name, content] of Object.entries(referenceDocuments())) {
  writeFileSync(join(docsDir, name), content);
  console.log(`wrote docs/${name}`);
}
