/**
 * HookRunner with real `sh` scripts: order of the scripts, the environment they get, retry
 * semantics (0 / 62 / 63 / anything else), sleeps and the attempt cap, output to the log.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { ServerConfig } from '../../../src/config/index.js';
import { loadConfig } from '../../../src/config/index.js';
import type { HookOptionKey, HookRunnerDeps } from '../../../src/hooks/index.js';
import {
  archiveHooks,
  HookAbortError,
  HookRunner,
  isHookAbort,
  withWalDeleteHooks,
} from '../../../src/hooks/index.js';
import type { Logger } from '../../../src/log/index.js';
import { MemoryReporter } from '../../../src/output/reporter.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

interface LogLine {
  level: string;
  message: string;
  fields: Record<string, unknown> | undefined;
}

function memoryLogger(lines: LogLine[]): Logger {
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push({ level, message, fields });
    };
  const logger: Logger = {
    debug: at('debug'),
    info: at('info'),
    warning: at('warning'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

/** A temp dir, a real server configuration, and a runner with short sleeps. */
function setup(scripts: Partial<Record<HookOptionKey, string>>, deps: Partial<HookRunnerDeps> = {}) {
  const dir = writeConfigFiles({
    'barman.conf':
      '[barman]\nbarman_home = @DIR@/home\nbarman_user = root\npath_prefix = @DIR@/bin\n\n[pg]\nconninfo = host=pg\n',
  });
  const loaded = loadConfig({ configFile: join(dir, 'barman.conf') });
  const base = loaded.servers.get('pg')!.config;
  const config = { ...base, ...scripts } as ServerConfig;
  const report = new MemoryReporter();
  const logLines: LogLine[] = [];
  const runner = new HookRunner({
    config,
    configFile: loaded.configFile,
    version: '9.9.9',
    report,
    log: memoryLogger(logLines),
    retrySleepMs: [5, 40],
    ...deps,
  });
  const journal = join(dir, 'journal');
  const read = () => (existsSync(journal) ? readFileSync(journal, 'utf8').trim().split('\n') : []);
  const warnings = () => report.lines.filter((line) => line.level === 'warning').map((line) => line.message);
  return { dir, runner, report, logLines, journal, read, warnings, configFile: loaded.configFile };
}

/** A script appending `<label> $BARMAN_HOOK $BARMAN_PHASE $BARMAN_RETRY` to the journal, then exiting `code`. */
const note = (journal: string, label: string, code = 0) =>
  `echo "${label} $BARMAN_HOOK $BARMAN_PHASE $BARMAN_RETRY" >> '${journal}'; exit ${code}`;

describe('HookRunner', () => {
  it('runs pre_script then pre_retry_script, post_retry_script then post_script', async () => {
    const { runner, journal, read } = setup({});
    const scripts = {
      pre_delete_script: note(journal, 'A'),
      pre_delete_retry_script: note(journal, 'B'),
      post_delete_retry_script: note(journal, 'C'),
      post_delete_script: note(journal, 'D'),
    };
    const { runner: full } = setup(scripts);
    assert.equal(runner.has('delete'), false);
    await runner.run('delete', 'pre', {});
    assert.deepEqual(read(), [], 'nothing configured, nothing run');
    assert.equal(full.has('delete'), true);
    assert.equal(full.has('archive'), false);
    await full.run('delete', 'pre', {});
    await full.run('delete', 'post', {});
    assert.deepEqual(read(), [
      'A delete_script pre 0',
      'B delete_retry_script pre 1',
      'C delete_retry_script post 1',
      'D delete_script post 0',
    ]);
  });

  it('gives scripts the common BARMAN_* variables, the family ones, and PATH prefixed by path_prefix', async () => {
    const probe = setup({});
    const out = join(probe.dir, 'env.json');
    const { runner, dir, configFile } = setup({
      pre_archive_script: `"${process.execPath}" -e 'process.stdout.write(JSON.stringify(process.env))' > '${out}'`,
    });
    await runner.run('archive', 'pre', {
      BARMAN_SEGMENT: '000000010000000000000001',
      BARMAN_FILE: '$(touch /tmp/never) `id` "quoted" ; exit 3',
      BARMAN_ERROR: '',
    });
    const env = JSON.parse(readFileSync(out, 'utf8')) as Record<string, string>;
    assert.equal(env.BARMAN_VERSION, '9.9.9');
    assert.equal(env.BARMAN_SERVER, 'pg');
    assert.equal(env.BARMAN_CONFIGURATION, configFile);
    assert.equal(env.BARMAN_HOOK, 'archive_script');
    assert.equal(env.BARMAN_PHASE, 'pre');
    assert.equal(env.BARMAN_RETRY, '0');
    assert.equal(env.BARMAN_ERROR, '');
    assert.equal(env.BARMAN_SEGMENT, '000000010000000000000001');
    assert.equal(
      env.BARMAN_FILE,
      '$(touch /tmp/never) `id` "quoted" ; exit 3',
      'values are never interpreted',
    );
    assert.ok(env.PATH!.startsWith(`${dir}/bin:`), env.PATH);
    assert.ok(env.PATH!.length > `${dir}/bin:`.length, 'the inherited PATH follows');
  });

  it('finds programs of path_prefix first', async () => {
    const { runner, dir, read, journal } = setup({ post_backup_script: 'my-hook ok' });
    mkdirSync(join(dir, 'bin'));
    writeFileSync(join(dir, 'bin/my-hook'), `#!/bin/sh\necho "my-hook $1" >> '${journal}'\n`);
    chmodSync(join(dir, 'bin/my-hook'), 0o755);
    await runner.run('backup', 'post', {});
    assert.deepEqual(read(), ['my-hook ok']);
  });

  it('a failing standard script is a warning with its output; the output goes to the log', async () => {
    const { runner, warnings, logLines } = setup({
      post_backup_script: 'echo "to stdout"; echo "disk full" >&2; exit 4',
      pre_backup_script: 'echo hello',
    });
    await runner.run('backup', 'pre', {});
    await runner.run('backup', 'post', {});
    assert.deepEqual(warnings(), ['post_backup_script returned 4: disk full']);
    const ok = logLines.find((line) => line.message === 'pre_backup_script returned 0');
    assert.equal(ok?.fields?.stdout, 'hello\n');
    const failed = logLines.find((line) => line.level === 'warning');
    assert.equal(failed?.fields?.stdout, 'to stdout\n');
    assert.equal(failed?.fields?.stderr, 'disk full\n');
    assert.equal(failed?.fields?.exitStatus, 4);
  });

  it('re-runs a retry script until it succeeds, sleeping longer after every 5th failure', async () => {
    const probe = setup({});
    const counter = join(probe.dir, 'count');
    writeFileSync(counter, '0');
    // Fails 6 times, then succeeds.
    const script = `n=$(cat '${counter}'); n=$((n+1)); echo $n > '${counter}'; [ $n -gt 6 ] || exit 1`;
    const { runner, warnings } = setup({ pre_archive_retry_script: script });
    const started = Date.now();
    await runner.run('archive', 'pre', {});
    assert.equal(readFileSync(counter, 'utf8').trim(), '7');
    assert.deepEqual(warnings(), [
      'pre_archive_retry_script returned 1: retrying in 0.005 seconds',
      'pre_archive_retry_script returned 1: retrying in 0.005 seconds',
      'pre_archive_retry_script returned 1: retrying in 0.005 seconds',
      'pre_archive_retry_script returned 1: retrying in 0.005 seconds',
      'pre_archive_retry_script returned 1: retrying in 0.04 seconds',
      'pre_archive_retry_script returned 1: retrying in 0.005 seconds',
    ]);
    assert.ok(Date.now() - started >= 5 * 5 + 40, 'it slept');
  });

  it('exit 62 stops retrying and continues, with a warning', async () => {
    const probe = setup({});
    const scripts = {
      pre_delete_retry_script: note(probe.journal, 'R', 62),
      pre_delete_script: note(probe.journal, 'S'),
    };
    const { runner, warnings } = setup(scripts);
    await runner.run('delete', 'pre', {});
    assert.deepEqual(probe.read(), ['S delete_script pre 0', 'R delete_retry_script pre 1']);
    assert.deepEqual(warnings(), ['pre_delete_retry_script was aborted (exit status 62): continuing']);
  });

  it('exit 63 aborts a pre phase with a hook-abort error, and is a warning in a post phase', async () => {
    const probe = setup({});
    const scripts = {
      pre_archive_retry_script: note(probe.journal, 'pre-retry', 63),
      post_archive_retry_script: note(probe.journal, 'post-retry', 63),
      post_archive_script: note(probe.journal, 'post'),
    };
    const { runner, warnings } = setup(scripts);
    await assert.rejects(runner.run('archive', 'pre', {}), (error: unknown) => {
      assert.ok(error instanceof HookAbortError);
      assert.ok(isHookAbort(error));
      assert.equal(error.code, 'hook-abort');
      assert.equal(error.hook, 'pre_archive_retry_script');
      assert.equal(error.exitStatus, 63);
      assert.equal(error.message, 'pre_archive_retry_script requested to stop (exit status 63)');
      return true;
    });
    await runner.run('archive', 'post', {});
    assert.deepEqual(probe.read(), [
      'pre-retry archive_retry_script pre 1',
      'post-retry archive_retry_script post 1',
      'post archive_script post 0',
    ]);
    assert.deepEqual(warnings(), [
      'Ignoring stop request after receiving abort (exit status 63) from post_archive_retry_script',
    ]);
    // ignoreStop (wal_delete): a warning, the operation goes on.
    await runner.run('archive', 'pre', {}, { ignoreStop: true });
    assert.equal(warnings().length, 2);
  });

  it('gives up after maxAttempts: abort in a pre phase, warning in a post phase', async () => {
    const probe = setup({});
    const script = `echo x >> '${probe.journal}'; echo "not yet" >&2; exit 5`;
    const { runner, warnings } = setup(
      { pre_backup_retry_script: script, post_backup_retry_script: script },
      { maxAttempts: 3 },
    );
    await assert.rejects(runner.run('backup', 'pre', {}), {
      code: 'hook-abort',
      message: 'pre_backup_retry_script failed 3 times (returned 5: not yet): giving up',
    });
    assert.equal(probe.read().length, 3);
    await runner.run('backup', 'post', {});
    assert.equal(probe.read().length, 6);
    assert.equal(
      warnings().at(-1),
      'post_backup_retry_script failed 3 times (returned 5: not yet): giving up',
    );
  });

  it('a script killed by a signal counts as a failure', async () => {
    const { runner, warnings } = setup({ post_recovery_script: 'kill -TERM $$' });
    await runner.run('recovery', 'post', {});
    assert.deepEqual(warnings(), ['post_recovery_script killed by SIGTERM']);
  });
});

describe('hook adapters', () => {
  it('archiveHooks: none without archive scripts; a pre stop becomes the reason to stop the batch', async () => {
    assert.equal(archiveHooks(setup({ pre_delete_script: 'true' }).runner), undefined);
    const probe = setup({});
    const out = join(probe.dir, 'post.env');
    const { runner } = setup({
      pre_archive_retry_script: 'exit 63',
      post_archive_script: `echo "$BARMAN_FILE|$BARMAN_SIZE|$BARMAN_TIMESTAMP|$BARMAN_COMPRESSION|$BARMAN_ERROR" > '${out}'`,
    });
    const hooks = archiveHooks(runner)!;
    const file = { segment: 'S', path: '/p/S', size: 10, mtime: 1.25, compression: 'gzip' };
    assert.equal(await hooks.before(file), 'pre_archive_retry_script requested to stop (exit status 63)');
    await hooks.after(file, 'rejected');
    assert.equal(readFileSync(out, 'utf8'), '/p/S|10|1.25|gzip|rejected\n');
  });

  it('withWalDeleteHooks: a pre stop is ignored, the removal error reaches the post scripts and is thrown', async () => {
    const probe = setup({});
    const scripts = {
      pre_wal_delete_retry_script: note(probe.journal, 'pre', 63),
      post_wal_delete_script: `echo "post $BARMAN_SEGMENT $BARMAN_FILE [$BARMAN_ERROR]" >> '${probe.journal}'`,
    };
    const { runner, warnings } = setup(scripts);
    const file = { segment: 'W', file: '/w/W', size: 1, timestamp: 2, compression: null };
    let removed = 0;
    await withWalDeleteHooks(runner, file, () => {
      removed += 1;
      return Promise.resolve();
    });
    await assert.rejects(
      withWalDeleteHooks(runner, file, () => Promise.reject(new Error('EACCES: permission denied'))),
      /EACCES/,
    );
    let plain = 0;
    await withWalDeleteHooks(undefined, file, () => {
      plain += 1;
      return Promise.resolve();
    });
    assert.equal(removed, 1);
    assert.equal(plain, 1);
    assert.deepEqual(probe.read(), [
      'pre wal_delete_retry_script pre 1',
      'post W /w/W []',
      'pre wal_delete_retry_script pre 1',
      'post W /w/W [EACCES: permission denied]',
    ]);
    assert.equal(warnings().length, 2);
  });
});
