import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prettySize, pythonDecimal } from '../../../src/output/format.js';

test("pythonDecimal: Python's str(Decimal(text)) for PostgreSQL's numeric text", () => {
  // Each right-hand side is what Python 3.11 prints for str(Decimal(left)).
  const cases: Array<[string, string]> = [
    ['0.00000000000000000000', '0E-20'],
    ['0.18784822834950861032', '0.18784822834950861032'],
    ['23232201', '23232201'],
    ['12.000', '12.000'],
    ['0', '0'],
    ['0.0000001', '1E-7'],
    ['0.000001', '0.000001'],
    ['-0.5', '-0.5'],
    ['1.50', '1.50'],
    ['0.00001234', '0.00001234'],
  ];
  for (const [text, expected] of cases) assert.equal(pythonDecimal(text), expected, text);
  assert.equal(pythonDecimal('NaN'), 'NaN', 'anything else is returned as is');
});

test("prettySize: Python's '%.1f', halves to the even tenth as Barman prints them", () => {
  assert.equal(prettySize(800_000), '781.2 KiB', '781.25 KiB exactly');
  assert.equal(prettySize(800_512), '781.8 KiB', '781.75 KiB exactly');
  assert.equal(prettySize(1_000_000), '976.6 KiB');
  assert.equal(prettySize(32_000_000), '30.5 MiB');
  assert.equal(prettySize(1023), '1023 B');
});
