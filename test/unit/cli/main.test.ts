import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { main } from '../../../src/cli/main.js';
import type { CommandDefinition } from '../../../src/commands/definition.js';
import { defineCommandModule } from '../../../src/commands/definition.js';
import { BarmanError } from '../../../src/errors/index.js';
import { writeConfigFiles } from '../../helpers/config-files.js';

/** Runs main() in-process with stdout/stderr captured. */
async function capture(argv: string[], commands: CommandDefinition[]) {
  const out: string[] = [];
  const err: string[] = [];
  const original = {
    out: process.stdout.write.bind(process.stdout),
    err: process.stderr.write.bind(process.stderr),
  };
  process.stdout.write = (chunk: string) => out.push(chunk) > 0;
  process.stderr.write = (chunk: string) => err.push(chunk) > 0;
  try {
    const exitCode = await main(argv, commands);
    return { exitCode, stdout: out.join(''), stderr: err.join('') };
  } finally {
    process.stdout.write = original.out;
    process.stderr.write = original.err;
  }
}

const crashing: CommandDefinition = {
  name: 'crash',
  summary: 'fails unexpectedly',
  usesConfig: true,
  load: () =>
    Promise.resolve(
      defineCommandModule<never>({
        run: () =>
          Promise.reject(new TypeError("Cannot read properties of undefined (reading 'password=topsecret')")),
        renderConsole: () => [],
        renderJson: () => null,
      }),
    ),
};

test('an unexpected error prints one line naming the log file, exits 1, and logs the stack', async () => {
  const dir = writeConfigFiles({
    'barman.conf': `[barman]\nbarman_user = ${userInfo().username}\nbarman_home = @DIR@/home\nlog_file = @DIR@/log/barman.log\n`,
  });
  const run = await capture(['-c', join(dir, 'barman.conf'), 'crash'], [crashing]);
  assert.equal(run.exitCode, 1);
  assert.equal(
    run.stderr,
    `ERROR: internal error: Cannot read properties of undefined (reading 'password=***') (see ${dir}/log/barman.log for details)\n`,
  );
  const log = readFileSync(join(dir, 'log/barman.log'), 'utf8');
  const entry = log
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { msg: string; stack?: string })
    .find((line) => line.stack !== undefined);
  assert.ok(entry, 'the stack is logged');
  assert.match(entry.stack!, /TypeError: .*\n\s+at /);
  assert.doesNotMatch(log, /topsecret/);
});

test('without a log file, the message says how to get the stack trace', async () => {
  const dir = writeConfigFiles({
    'barman.conf': `[barman]\nbarman_user = ${userInfo().username}\nbarman_home = @DIR@/home\n`,
  });
  const run = await capture(['-c', join(dir, 'barman.conf'), 'crash'], [crashing]);
  assert.equal(run.exitCode, 1);
  assert.match(
    run.stderr,
    /^ERROR: internal error: .*no log_file is configured: run with --debug for the stack trace\)\n$/,
  );
  const debug = await capture(['-d', '-c', join(dir, 'barman.conf'), 'crash'], [crashing]);
  assert.match(debug.stderr, /TypeError: .*\n\s+at /);
});

const talking: CommandDefinition = {
  name: 'talk',
  summary: 'reports messages and a result',
  usesConfig: true,
  load: () =>
    Promise.resolve(
      defineCommandModule<{ fail: boolean }>({
        run: (ctx, input) => {
          ctx.report.info('first line');
          ctx.report.warning('careful');
          if (input.args.mode === 'fail') return Promise.reject(new BarmanError('test', 'it went wrong'));
          return Promise.resolve({ fail: false });
        },
        renderConsole: () => ['result line'],
        renderJson: () => ({ srv: { value: 1 } }),
      }),
    ),
  arguments: [{ name: 'mode', description: 'ok or fail', required: true }],
};

test('-f json: one document on stdout with the result and the messages, as Barman prints it', async () => {
  const dir = writeConfigFiles({
    'barman.conf': `[barman]\nbarman_user = ${userInfo().username}\nbarman_home = @DIR@/home\n`,
  });
  const ok = await capture(['-c', join(dir, 'barman.conf'), '-f', 'json', 'talk', 'ok'], [talking]);
  assert.equal(ok.exitCode, 0);
  assert.equal(ok.stdout, '{"_INFO": ["first line"], "_WARNING": ["careful"], "srv": {"value": 1}}\n');
  assert.equal(ok.stderr, 'WARNING: careful\n', 'warnings and errors also reach stderr; info lines do not');

  const failed = await capture(['-c', join(dir, 'barman.conf'), '-f', 'json', 'talk', 'fail'], [talking]);
  assert.equal(failed.exitCode, 1);
  assert.equal(
    failed.stdout,
    '{"_ERROR": ["it went wrong"], "_INFO": ["first line"], "_WARNING": ["careful"]}\n',
  );
  assert.equal(failed.stderr, 'WARNING: careful\nERROR: it went wrong\n');

  const console = await capture(['-c', join(dir, 'barman.conf'), 'talk', 'ok'], [talking]);
  assert.equal(console.stdout, 'first line\nresult line\n');
});
