import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { jsonDocument, pythonJson } from '../../../src/output/json.js';

describe('pythonJson: what Python json.dumps(sort_keys=True) prints', () => {
  test('sorted keys at every level, Python separators', () => {
    assert.equal(
      pythonJson({ pgr: { b: [1, 'x', null], a: true }, _INFO: ['m'], pg: {} }),
      '{"_INFO": ["m"], "pg": {}, "pgr": {"a": true, "b": [1, "x", null]}}',
    );
  });

  test('characters outside printable ASCII escaped (ensure_ascii)', () => {
    assert.equal(pythonJson(['é€\u007f\n"']), '["\\u00e9\\u20ac\\u007f\\n\\""]');
  });

  test('undefined values dropped, non-finite numbers null', () => {
    assert.equal(pythonJson({ a: undefined, b: Number.NaN, c: 1.5 }), '{"b": null, "c": 1.5}');
  });

  test('with an indent: one item per line and no space before a line break (diagnose)', () => {
    assert.equal(
      pythonJson({ b: [1, 2], a: {}, c: [] }, 4),
      '{\n    "a": {},\n    "b": [\n        1,\n        2\n    ],\n    "c": []\n}',
    );
  });
});

describe('jsonDocument: the result with the messages of the run', () => {
  test('messages are added as _INFO/_WARNING/_ERROR lists; empty lists left out', () => {
    assert.deepEqual(jsonDocument({ pg: { a: 1 } }, { _INFO: ['one'], _WARNING: [], _ERROR: ['bad'] }), {
      pg: { a: 1 },
      _INFO: ['one'],
      _ERROR: ['bad'],
    });
  });

  test('no result: only the messages, or an empty object', () => {
    assert.deepEqual(jsonDocument(null, {}), {});
    assert.deepEqual(jsonDocument(null, { _ERROR: ["Unknown server 'x'"] }), {
      _ERROR: ["Unknown server 'x'"],
    });
  });

  test("a result's own _INFO lines come after the reported ones", () => {
    assert.deepEqual(jsonDocument({ _INFO: ['/file'] }, { _INFO: ['note'] }), { _INFO: ['note', '/file'] });
  });
});
