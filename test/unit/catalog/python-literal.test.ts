import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  formatPythonFloat,
  formatPythonLiteral,
  formatPythonString,
  parsePythonLiteral,
  PythonLiteralError,
  PythonTuple,
  pythonNumber,
  type PythonValue,
} from '../../../src/catalog/python-literal.js';

const tuple = (...items: PythonValue[]) => new PythonTuple(items);
const dict = (...entries: Array<[PythonValue, PythonValue]>) => new Map<PythonValue, PythonValue>(entries);

describe('parsePythonLiteral', () => {
  const cases: Array<[string, PythonValue]> = [
    ['None', null],
    ['True', true],
    ['False', false],
    ['0', 0n],
    ['42', 42n],
    ['-7', -7n],
    ['+7', 7n],
    ['- 5', -5n],
    ['1_000', 1000n],
    ['0x1F', 31n],
    ['0o17', 15n],
    ['0b101', 5n],
    ['123456789012345678901234567890', 123456789012345678901234567890n],
    ['2.5', 2.5],
    ['-0.25', -0.25],
    ['2.0', 2],
    ['1.', 1],
    ['.5', 0.5],
    ['1e-05', 0.00001],
    ['1.5E+3', 1500],
    ["'abc'", 'abc'],
    ['"abc"', 'abc'],
    ["''", ''],
    ["'it\\'s'", "it's"],
    ['"say \\"hi\\""', 'say "hi"'],
    ["'a\\nb\\tc\\rd'", 'a\nb\tc\rd'],
    ["'back\\\\slash'", 'back\\slash'],
    ["'\\x41\\x7f\\xe9'", 'A\x7fé'],
    ["'\\u00e9\\u200b'", 'é\u200b'],
    ["'\\U0001F600'", '😀'],
    ["'\\101\\0'", 'A\0'],
    ["'\\a\\b\\f\\v'", '\x07\b\f\v'],
    ["'\\q'", '\\q'],
    ["u'x'", 'x'],
    ["r'a\\nb'", 'a\\nb'],
    ['\'a\' "b"', 'ab'],
    ['[]', []],
    ['[1, 2,]', [1n, 2n]],
    ['()', tuple()],
    ['(1,)', tuple(1n)],
    ['(1)', 1n],
    ["('tbs1', 16391, '/srv/tbs1')", tuple('tbs1', 16391n, '/srv/tbs1')],
    ['{}', dict()],
    ["{'a': 1, 'b': [2.5, None]}", dict(['a', 1n], ['b', [2.5, null]])],
    ["{'a': 1, 'a': 2}", dict(['a', 2n])],
    ["{(1, 'x'): 'k', 3: {}}", dict([tuple(1n, 'x'), 'k'], [3n, dict()])],
    ['[[(1,), {"k": (True, False)}]]', [[tuple(1n), dict(['k', tuple(true, false)])]]],
    ['  [1]  ', [1n]],
    ['[1, # a comment\n 2]', [1n, 2n]],
  ];
  for (const [text, expected] of cases) {
    test(`reads ${JSON.stringify(text)}`, () => {
      assert.deepEqual(parsePythonLiteral(text), expected);
    });
  }

  test('keeps ints and floats apart: 2 is a bigint, 2.0 a number', () => {
    assert.equal(typeof parsePythonLiteral('2'), 'bigint');
    assert.equal(typeof parsePythonLiteral('2.0'), 'number');
  });

  test('keeps tuples and lists apart', () => {
    assert.ok(parsePythonLiteral('(1, 2)') instanceof PythonTuple);
    assert.ok(Array.isArray(parsePythonLiteral('[1, 2]')));
  });

  test('a repeated tuple key replaces the value in place, as in Python', () => {
    const value = parsePythonLiteral("{(1,): 'a', 'x': 0, (1,): 'b'}");
    assert.equal(formatPythonLiteral(value), "{(1,): 'b', 'x': 0}");
  });

  const errors: Array<[string, number, RegExp]> = [
    ['', 1, /empty literal/],
    ["'abc", 1, /unterminated string/],
    ["[1, 'abc", 5, /unterminated string/],
    ["{'copy_time': 2.13", 19, /end of input, ',' or '}' was expected/],
    ['{', 2, /end of input, '}' was expected/],
    ['[1, 2', 6, /end of input, ',' or '\]' was expected/],
    ['(1,', 4, /end of input, '\)' was expected/],
    ['[1 2]', 4, /',' or '\]' expected/],
    ['(1, 2]', 6, /',' or '\)' expected/],
    ["{'a' 1}", 6, /':' expected/],
    ["{'a', 'b'}", 5, /set literals/],
    ['{[1]: 2}', 2, /unhashable type 'list'/],
    ['none', 1, /unexpected name 'none'/],
    ["__import__('os')", 1, /unexpected name '__import__'/],
    ['1 + 2', 3, /unexpected character '\+' after the literal/],
    ['[1] x', 5, /after the literal/],
    ['007', 1, /leading zeros/],
    ['1j', 1, /complex/],
    ['12abc', 3, /invalid number literal/],
    ['--1', 1, /sign is only allowed in front of a number/],
    ["-'a'", 1, /sign is only allowed/],
    ["b'x'", 1, /bytes/],
    ["f'x'", 1, /f-strings/],
    ["'''x'''", 1, /triple-quoted/],
    ["'\\x4'", 2, /truncated \\xXX escape/],
    ["'ab\\u12'", 4, /truncated \\uXXXX escape/],
    ["'\\N{DASH}'", 2, /\\N\{\.\.\.\} escapes/],
    ["'a\nb'", 1, /line break/],
    ['[1, 2] ]', 8, /unexpected character '\]'/],
    ['{1, 2}', 3, /set literals/],
    ['@', 1, /unexpected character '@'/],
  ];
  for (const [text, column, reason] of errors) {
    test(`rejects ${JSON.stringify(text)} at column ${column}`, () => {
      assert.throws(
        () => parsePythonLiteral(text),
        (error: unknown) => {
          assert.ok(error instanceof PythonLiteralError, `not a PythonLiteralError: ${String(error)}`);
          assert.equal(error.column, column);
          assert.match(error.reason, reason);
          assert.match(error.message, new RegExp(`at column ${column}$`));
          return true;
        },
      );
    });
  }

  test('refuses absurd nesting instead of overflowing the stack', () => {
    assert.throws(() => parsePythonLiteral('['.repeat(10_000)), /nesting deeper than 200 levels/);
    assert.deepEqual(parsePythonLiteral('['.repeat(50) + ']'.repeat(50)), nested(50));
  });
});

function nested(depth: number): PythonValue {
  return depth === 1 ? [] : [nested(depth - 1)];
}

describe('formatPythonLiteral (Python repr)', () => {
  const cases: Array<[PythonValue, string]> = [
    [null, 'None'],
    [true, 'True'],
    [false, 'False'],
    [16391n, '16391'],
    [-3n, '-3'],
    [2.5, '2.5'],
    [2, '2.0'],
    ['abc', "'abc'"],
    [[], '[]'],
    [[1n, 'a', null], "[1, 'a', None]"],
    [tuple(), '()'],
    [tuple('x'), "('x',)"],
    [tuple('tbs1', 16391n, '/srv/tbs1'), "('tbs1', 16391, '/srv/tbs1')"],
    [[tuple('tbs1', 16391n, '/srv/tbs1')], "[('tbs1', 16391, '/srv/tbs1')]"],
    [dict(), '{}'],
    [
      dict(['copy_time', 47.905157], ['total_time', 47.905157]),
      "{'copy_time': 47.905157, 'total_time': 47.905157}",
    ],
    [dict([1n, dict(['k', [tuple(true)]])]), "{1: {'k': [(True,)]}}"],
  ];
  for (const [value, expected] of cases) {
    test(`prints ${expected}`, () => {
      assert.equal(formatPythonLiteral(value), expected);
    });
  }

  test('rejects values that are not Python literals', () => {
    assert.throws(() => formatPythonLiteral({ a: 1 } as unknown as PythonValue), TypeError);
    assert.throws(() => formatPythonLiteral(undefined as unknown as PythonValue), TypeError);
  });

  // Expected strings printed by CPython 3.11's repr().
  const floats: Array<[number, string]> = [
    [0, '0.0'],
    [-0, '-0.0'],
    [1, '1.0'],
    [-3, '-3.0'],
    [0.1, '0.1'],
    [1 / 3, '0.3333333333333333'],
    [2.138556, '2.138556'],
    [0.09377, '0.09377'],
    [1e-4, '0.0001'],
    [1e-5, '1e-05'],
    [1.5e-7, '1.5e-07'],
    [123456.789, '123456.789'],
    [1e15, '1000000000000000.0'],
    [1e16, '1e+16'],
    [9999999999999998, '9999999999999998.0'],
    [1.2345678901234568e17, '1.2345678901234568e+17'],
    [1e22, '1e+22'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [46.2, '46.2'],
    [Infinity, 'inf'],
    [-Infinity, '-inf'],
    [NaN, 'nan'],
  ];
  for (const [value, expected] of floats) {
    test(`float ${expected}`, () => {
      assert.equal(formatPythonFloat(value), expected);
    });
  }

  // Expected strings printed by CPython 3.11's repr().
  const strings: Array<[string, string]> = [
    ['', "''"],
    ["it's", `"it's"`],
    ['say "hi"', `'say "hi"'`],
    [`both ' and "`, `'both \\' and "'`],
    ['back\\slash', "'back\\\\slash'"],
    ['tab\tnl\ncr\r', "'tab\\tnl\\ncr\\r'"],
    ['\x00\x1f\x7f', "'\\x00\\x1f\\x7f'"],
    ['\x80\xa0\xad\xe9', "'\\x80\\xa0\\xadé'"],
    ['\u200b\u2028\u3000\ue000', "'\\u200b\\u2028\\u3000\\ue000'"],
    ['日本', "'日本'"],
    ['\u{1f600}', "'😀'"],
    ['\u{e0001}', "'\\U000e0001'"],
    ['\ud800', "'\\ud800'"],
  ];
  for (const [value, expected] of strings) {
    test(`str ${expected}`, () => {
      assert.equal(formatPythonString(value), expected);
      assert.equal(parsePythonLiteral(expected), value);
    });
  }
});

describe('round trips', () => {
  // Printed by CPython (repr of the evaluated literal), so they must come back unchanged.
  const canonical = [
    "'START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\\nCHECKPOINT LOCATION: 0/338A968\\n'",
    "{'copy_time': 47.905157, 'total_time': 47.905157}",
    "{'total_time': 2.466488, 'number_of_workers': 2, 'analysis_time_per_item': {'tbs1': 0.646307, 'pgdata': 0.685102}, 'copy_time_per_item': {'tbs1': 0.383182, 'pgdata': 0.504955, 'pg_control': 0.275573}}",
    "[('tbs1', 16391, '/srv/demo/tbs1'), ('tbs two', 16400, \"/srv/it's\")]",
    "['/etc/postgresql/extra.conf']",
    "{'a': (1,), 'b': (), 'c': [None, True, False, -1, -0.5, 1e-05, 2.0]}",
    "{(1, 'x'): {}, 2: [[]]}",
  ];
  for (const text of canonical) {
    test(`unchanged: ${text.slice(0, 60)}`, () => {
      assert.equal(formatPythonLiteral(parsePythonLiteral(text)), text);
    });
  }

  test('non-canonical spellings print the way Python would', () => {
    assert.equal(formatPythonLiteral(parsePythonLiteral('( 1 , [ 2 , ] , )')), '(1, [2])');
    assert.equal(formatPythonLiteral(parsePythonLiteral('"plain"')), "'plain'");
    assert.equal(formatPythonLiteral(parsePythonLiteral('1_0.5_0e1_0')), '105000000000.0');
  });
});

test('pythonNumber converts ints and floats, nothing else', () => {
  assert.equal(pythonNumber(2n), 2);
  assert.equal(pythonNumber(0.5), 0.5);
  assert.equal(pythonNumber('2'), null);
  assert.equal(pythonNumber(null), null);
  assert.equal(pythonNumber(undefined), null);
});
