/**
 * Configuration models (Barman 3.10+): the active model named in `.active-model.auto` is laid
 * over the server's values (and says so in `sources`); a model that cannot be applied (unknown
 * option, missing, another cluster) disables the servers it is active for, naming file, section
 * and option; a model of a cluster no server has is reported; `.barman.auto.conf` is read last.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ServerEntry } from '../../../src/config/index.js';
import { formatProblem, loadConfig, modelRefusal } from '../../../src/config/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

const SERVER =
  'conninfo = host=old dbname=postgres\nstreaming_conninfo = host=old\nbackup_method = postgres\nstreaming_archiver = on\nslot_name = barman\n';

function load(sections: string, activeModel?: string, autoConf?: string) {
  const dir = writeConfigFiles({ 'barman.conf': `[barman]\nbarman_home = @DIR@/home\n${sections}` });
  mkdirSync(join(dir, 'home/pg'), { recursive: true });
  if (activeModel !== undefined) writeFileSync(join(dir, 'home/pg/.active-model.auto'), activeModel);
  if (autoConf !== undefined) writeFileSync(join(dir, 'home/.barman.auto.conf'), autoConf);
  return { dir, config: loadConfig({ configFile: join(dir, 'barman.conf') }) };
}

const errors = (entry: ServerEntry) =>
  entry.problems.filter((p) => p.severity === 'error').map(formatProblem);

const MODELS =
  '[node_b]\nmodel = true\ncluster = fleet\nconninfo = host=b dbname=postgres\nstreaming_conninfo = host=b\n' +
  '[node_c]\nmodel = true\ncluster = fleet\nconninfo = host=c dbname=postgres\n';

describe('configuration models', () => {
  it('without an active model the server keeps its own values', () => {
    const { config } = load(`[pg]\n${SERVER}cluster = fleet\n${MODELS}`);
    const pg = config.servers.get('pg')!;
    assert.equal(pg.activeModel, null);
    assert.equal(pg.config.conninfo, 'host=old dbname=postgres');
    assert.equal(pg.disabled, false, errors(pg).join('\n'));
  });

  it("the active model's values replace the server's, and the sources say so", () => {
    const { dir, config } = load(`[pg]\n${SERVER}cluster = fleet\n${MODELS}`, 'node_b');
    const pg = config.servers.get('pg')!;
    assert.equal(pg.disabled, false, errors(pg).join('\n'));
    assert.equal(pg.activeModel, 'node_b');
    assert.equal(pg.config.conninfo, 'host=b dbname=postgres');
    assert.equal(pg.config.streaming_conninfo, 'host=b');
    assert.deepEqual(pg.sources.conninfo, {
      kind: 'model',
      model: 'node_b',
      file: join(dir, 'barman.conf'),
      line: 13,
      section: 'node_b',
    });
    // Options the model does not set stay the server's (Barman: no re-derivation).
    assert.equal(pg.config.slot_name, 'barman');
    assert.equal(pg.sources.slot_name?.kind, 'file');
  });

  it('an option the model leaves unset keeps the value derived from the server (as Barman)', () => {
    const { config } = load(
      `[pg]\nconninfo = host=old\nbackup_method = postgres\ncluster = fleet\n${MODELS}`,
      'node_c',
    );
    const pg = config.servers.get('pg')!;
    assert.equal(pg.config.conninfo, 'host=c dbname=postgres');
    assert.equal(pg.config.streaming_conninfo, 'host=old');
  });

  it('a model naming an unknown option is refused: every command warns, the server it is active for is disabled', () => {
    const bad =
      '[node_x]\nmodel = true\ncluster = fleet\nconninfo = host=x\nstreaming_conninfo_typo = host=x\n';
    const { dir, config } = load(`[pg]\n${SERVER}cluster = fleet\n${MODELS}${bad}`, 'node_x');
    const file = join(dir, 'barman.conf');
    const expected = `[node_x] streaming_conninfo_typo: unknown option 'streaming_conninfo_typo' (${file}, line 23)`;
    assert.ok(
      config.problems.map(formatProblem).includes(expected),
      config.problems.map(formatProblem).join('\n'),
    );
    const pg = config.servers.get('pg')!;
    assert.equal(pg.disabled, true);
    assert.match(
      errors(pg).join('\n'),
      /Model 'node_x' has configuration errors: \[node_x\] streaming_conninfo_typo: unknown option/,
    );
    assert.match(errors(pg).join('\n'), /barman config-switch pg --reset/);
    // The server's own conninfo, not a half-applied model.
    assert.equal(pg.config.conninfo, 'host=old dbname=postgres');
    assert.match(modelRefusal(config.models.get('node_x')!, 'pg', 'fleet')!, /streaming_conninfo_typo/);
  });

  it('options not allowed in a model (directories, hooks) are refused naming them', () => {
    const { config } = load(
      `[pg]\n${SERVER}cluster = fleet\n[m]\nmodel = true\ncluster = fleet\nbackup_directory = /x\npost_backup_script = true\n`,
    );
    const text = config.problems.map(formatProblem).join('\n');
    assert.match(text, /\[m\] backup_directory: 'backup_directory' is not allowed in a model/);
    assert.match(text, /\[m\] post_backup_script: 'post_backup_script' is not allowed in a model/);
  });

  it('a model of a cluster no server has is reported at its cluster option', () => {
    const { config } = load(
      `[pg]\n${SERVER}cluster = fleet\n[lost]\nmodel = true\ncluster = nowhere\nconninfo = host=z\n`,
    );
    assert.match(
      config.problems.map(formatProblem).join('\n'),
      /\[lost\] cluster: no server has 'cluster = nowhere'.*line 12\)/,
    );
  });

  it('a model for another cluster, or one that no longer exists, disables the server it is active for', () => {
    const other =
      '[node_o]\nmodel = true\ncluster = other\nconninfo = host=o\n[other]\nconninfo = host=o\nbackup_method = postgres\n[other2]\nconninfo = host=p\nbackup_method = postgres\ncluster = other\n';
    const wrong = load(`[pg]\n${SERVER}cluster = fleet\n${other}`, 'node_o').config.servers.get('pg')!;
    assert.match(
      errors(wrong).join('\n'),
      /Model 'node_o' has 'cluster=other', which is not compatible with 'cluster=fleet' from server 'pg'/,
    );
    const gone = load(`[pg]\n${SERVER}cluster = fleet\n`, 'vanished\n').config.servers.get('pg')!;
    assert.match(
      errors(gone).join('\n'),
      /Model 'vanished' is set as the active model for the server 'pg' but the model does not exist/,
    );
  });

  it('a model without cluster is refused; the cluster of a server defaults to its name', () => {
    const { config } = load(
      `[pg]\n${SERVER}[m]\nmodel = true\nconninfo = host=m\n[pg_m]\nmodel = true\ncluster = pg\nconninfo = host=m\n`,
      'pg_m',
    );
    assert.match(config.problems.map(formatProblem).join('\n'), /\[m\]: a model needs the 'cluster' option/);
    assert.equal(config.servers.get('pg')!.config.conninfo, 'host=m');
  });

  it('an active model with a value a rule refuses disables the server, naming the model section', () => {
    const { config } = load(
      `[pg]\n${SERVER}cluster = fleet\n[m]\nmodel = true\ncluster = fleet\nparallel_jobs = many\n`,
      'm',
    );
    assert.match(config.problems.map(formatProblem).join('\n'), /\[m\] parallel_jobs: expected an integer/);
    assert.equal(config.servers.get('pg')!.disabled, true);
  });
});

describe('.barman.auto.conf (config-update)', () => {
  it('is read last: its values win over barman.conf, for servers and models', () => {
    const { config, dir } = load(
      `[pg]\n${SERVER}cluster = fleet\n${MODELS}`,
      'node_c',
      '[pg]\ndescription = from auto\n[node_c]\nstreaming_conninfo = host=c\n',
    );
    const pg = config.servers.get('pg')!;
    assert.equal(pg.config.description, 'from auto');
    assert.equal(pg.config.streaming_conninfo, 'host=c');
    assert.equal(pg.sources.streaming_conninfo?.kind, 'model');
    assert.ok(config.files.includes(join(dir, 'home/.barman.auto.conf')));
  });

  it('a [barman] section in it is ignored with an error naming the file', () => {
    const { config } = load(`[pg]\n${SERVER}`, undefined, '[barman]\nbarman_home = /elsewhere\n');
    assert.match(
      config.problems.map(formatProblem).join('\n'),
      /\[barman\]: config-update writes only server and model sections.*\.barman\.auto\.conf, line 1/,
    );
    assert.notEqual(config.global.barman_home, '/elsewhere');
  });
});
