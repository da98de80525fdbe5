/**
 * config-update's request checking, Barman's queue format and the INI edit of .barman.auto.conf.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isBarmanError } from '../../../src/errors/index.js';
import {
  loadConfig,
  parseConfigUpdate,
  parseQueue,
  serializeQueue,
  setIniOption,
} from '../../../src/config/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const dir = writeConfigFiles({
  'barman.conf':
    '[barman]\nbarman_home = @DIR@/home\n[pg]\nconninfo = host=a\nbackup_method = postgres\ncluster = fleet\n[node_b]\nmodel = true\ncluster = fleet\nconninfo = host=b\n',
});
const config = loadConfig({ configFile: join(dir, 'barman.conf') });
const AUTO = '/h/.barman.auto.conf';

function refused(json: string, expected: RegExp): void {
  assert.throws(
    () => parseConfigUpdate(json, config, AUTO),
    (error: unknown) => isBarmanError(error) && expected.test(error.message),
  );
}

describe('config-update requests', () => {
  it('a valid request becomes change sets for .barman.auto.conf, Barman style', () => {
    const sets = parseConfigUpdate(
      '[{"scope": "server", "server_name": "pg", "Description": "primary now b", "parallel_jobs": 2},' +
        ' {"scope": "model", "model_name": "node_c", "cluster": "fleet", "conninfo": "host=c"}]',
      config,
      AUTO,
    );
    assert.deepEqual(sets, [
      {
        section: 'pg',
        changes_set: [
          { key: 'description', value: 'primary now b', config_file: AUTO },
          { key: 'parallel_jobs', value: '2', config_file: AUTO },
        ],
      },
      {
        section: 'node_c',
        changes_set: [
          { key: 'cluster', value: 'fleet', config_file: AUTO },
          { key: 'conninfo', value: 'host=c', config_file: AUTO },
          { key: 'model', value: 'on', config_file: AUTO },
        ],
      },
    ]);
  });

  it('malformed JSON, a non-array and bad elements are refused naming what is wrong', () => {
    refused('[{"scope": "server"', /not valid JSON/);
    refused('{"scope": "server"}', /must be a JSON array/);
    refused('["x"]', /change #1 is not a JSON object/);
    refused(
      '[{"scope": "cluster", "server_name": "pg"}]',
      /'scope' is "cluster"; it must be "server" or "model"/,
    );
    refused('[{"scope": "server", "conninfo": "x"}]', /'server_name' must name a section/);
    refused(
      '[{"scope": "server", "server_name": "../etc", "conninfo": "x"}]',
      /'server_name' must name a section/,
    );
  });

  it('unknown options, misplaced ones and invalid values are refused before anything is queued', () => {
    refused(
      '[{"scope": "server", "server_name": "pg", "conninfo_typo": "x"}]',
      /\[pg\] conninfo_typo: unknown option/,
    );
    refused(
      '[{"scope": "model", "model_name": "node_b", "wals_directory": "/x"}]',
      /\[node_b\] wals_directory: not allowed in a model/,
    );
    refused('[{"scope": "server", "server_name": "pg", "barman_home": "/x"}]', /a global option/);
    refused(
      '[{"scope": "server", "server_name": "pg", "parallel_jobs": "many"}]',
      /parallel_jobs: expected an integer/,
    );
    refused('[{"scope": "server", "server_name": "pg", "description": "a\\nb"}]', /on one line/);
    refused(
      '[{"scope": "server", "server_name": "node_b", "conninfo": "x"}]',
      /'node_b' is a model, not a server/,
    );
    refused('[{"scope": "model", "model_name": "pg", "conninfo": "x"}]', /'pg' is a server, not a model/);
    refused(
      '[{"scope": "model", "model_name": "new_model", "conninfo": "x"}]',
      /new model and needs 'cluster'/,
    );
    // A good change beside a bad one is refused too: nothing is half applied.
    refused(
      '[{"scope": "server", "server_name": "pg", "description": "ok"}, {"scope": "server", "server_name": "pg", "nope": "1"}]',
      /change #2 \[pg\] nope: unknown option/,
    );
  });
});

describe("Barman's change queue", () => {
  it('round-trips and reads an empty file as an empty queue', () => {
    const queue = [{ section: 'pg', changes_set: [{ key: 'description', value: 'x', config_file: AUTO }] }];
    assert.deepEqual(parseQueue(serializeQueue(queue), 'q'), queue);
    assert.deepEqual(parseQueue('', 'q'), []);
  });

  it('a malformed queue is refused naming the file', () => {
    for (const text of [
      '{',
      '{"section": "pg"}',
      '[{"section": "pg"}]',
      '[{"section": "pg", "changes_set": [{"key": 1}]}]',
    ])
      assert.throws(
        () => parseQueue(text, '/h/cfg_changes.queue'),
        (error: unknown) =>
          isBarmanError(error) &&
          /Malformed configuration change queue \/h\/cfg_changes\.queue/.test(error.message),
      );
  });
});

describe('setIniOption', () => {
  it('adds a section, adds a key at the end of its section, replaces a key where it is', () => {
    let text = setIniOption('', 'pg', 'conninfo', 'host=a');
    assert.equal(text, '[pg]\nconninfo = host=a\n');
    text = setIniOption(text, 'node_b', 'conninfo', 'host=b');
    assert.equal(text, '[pg]\nconninfo = host=a\n\n[node_b]\nconninfo = host=b\n');
    text = setIniOption(text, 'pg', 'description', 'd');
    assert.equal(text, '[pg]\nconninfo = host=a\ndescription = d\n\n[node_b]\nconninfo = host=b\n');
    text = setIniOption(text, 'pg', 'conninfo', 'host=z');
    assert.equal(text, '[pg]\nconninfo = host=z\ndescription = d\n\n[node_b]\nconninfo = host=b\n');
  });

  it('matches the whole key, not a prefix', () => {
    const text = setIniOption('[pg]\nconninfo_extra = 1\n', 'pg', 'conninfo', 'x');
    assert.equal(text, '[pg]\nconninfo_extra = 1\nconninfo = x\n');
  });
});
