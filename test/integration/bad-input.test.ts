/**
 * The bad-input suite: every case of the tables in bad-input/*.ts runs the built CLI on its own
 * copy of a Barman 3.4 catalogue and checks that the command refuses with Barman's exit code, a
 * message naming the offending file, option or value, no stack trace or "internal error", and
 * that nothing it was not meant to change changed (names, modes, owners, contents). Most tables
 * need no PostgreSQL; the `postgres` table starts one PostgreSQL 15 for the cases that need it.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CompletedRun } from '../harness/index.js';
import { BARMAN_BIN, makeTempDir, runBarman, runCompletely } from '../harness/index.js';
import { TABLES } from './bad-input/index.js';
import type { BadInputCase, World } from './bad-input/world.js';
import {
  barmanUser,
  buildTemplate,
  differences,
  fill,
  makeWorld,
  snapshot,
  unexpectedChanges,
} from './bad-input/world.js';

/** What must never reach an operator. */
const CRASH =
  /internal error|Traceback|EXCEPTION:|^\s+at .+:\d+:\d+\)?$|node:internal|Unhandled|\[object Object\]/m;

/** Cases at a time: the CLI starts in ~0.2 s of one core; more would only queue on 2 cores. */
const CONCURRENCY = 3;

let template: string;
let parent: string;
let user: string;
let counter = 0;

before(async () => {
  user = await barmanUser();
  template = await buildTemplate();
  parent = await makeTempDir('bad-input', { mode: 0o755 });
});

for (const table of TABLES) {
  describe(`bad input: ${table.title}`, { concurrency: table.serial ? 1 : CONCURRENCY }, () => {
    let values: Record<string, string> = {};
    let teardown: (() => Promise<void>) | undefined;
    if (table.setup) {
      before(async () => ({ values, teardown } = await table.setup!()));
      after(() => teardown?.());
    }
    for (const badCase of table.cases) it(badCase.name, () => runCase(badCase, values));
  });
}

describe('bad-input tables', () => {
  it('hold at least 250 cases, each named once and each naming what it checks', () => {
    const names = TABLES.flatMap((table) => table.cases.map((badCase) => `${table.title}: ${badCase.name}`));
    assert.ok(names.length >= 250, `only ${names.length} cases`);
    assert.equal(new Set(names).size, names.length, 'duplicate case names');
    for (const table of TABLES)
      for (const badCase of table.cases)
        assert.ok(
          badCase.stderr.length + (badCase.stdout?.length ?? 0) > 0,
          `${badCase.name}: no expected message`,
        );
  });
});

async function runCase(badCase: BadInputCase, values: Record<string, string>): Promise<void> {
  counter += 1;
  const world = makeWorld(template, parent, String(counter), user, badCase.config, values);
  let passed = false;
  try {
    await badCase.setup?.(world);
    const stop = badCase.during ? await badCase.during(world) : null;
    const before = snapshot(world.root);
    let run: CompletedRun;
    try {
      const args = badCase.args.map((arg) => fill(arg, world));
      const options = {
        ...(badCase.stdin !== undefined ? { input: badCase.stdin } : {}),
        env: { ...badCase.env },
        timeoutMs: 90_000,
      };
      run =
        badCase.program && badCase.program !== 'barman'
          ? await runCompletely(
              null,
              process.execPath,
              [join(dirname(BARMAN_BIN), `${badCase.program}.js`), ...args],
              options,
            )
          : await runBarman(badCase.noConfigFlag ? args : ['-c', world.config, ...args], options);
    } finally {
      await stop?.();
    }
    const after = snapshot(world.root);
    check(badCase, world, run, differences(before, after));
    await badCase.after?.(world, run);
    passed = true;
  } finally {
    // Kept for a look when the case failed (removed at exit with the rest).
    if (passed) rmSync(world.root, { recursive: true, force: true });
  }
}

function check(badCase: BadInputCase, world: World, run: CompletedRun, changes: string[]): void {
  const shown = `$ barman ${badCase.args.join(' ')}\nexit ${String(run.exitCode)}\nstdout: ${run.stdout.slice(0, 2000)}\nstderr: ${run.stderr.slice(0, 2000)}`;
  assert.equal(run.timedOut, false, `timed out\n${shown}`);
  assert.equal(run.exitCode, badCase.exit, `exit code\n${shown}`);
  assert.doesNotMatch(run.stdout + run.stderr, CRASH, `a crash reached the operator\n${shown}`);
  if (badCase.exit !== 0 && !badCase.stdout)
    assert.match(run.stderr, /^ERROR: \s*\S/m, `no ERROR: line\n${shown}`);
  expectOutput('stderr', run.stderr, badCase.stderr, world, shown);
  expectOutput('stdout', run.stdout, badCase.stdout ?? [], world, shown);
  const problems = unexpectedChanges(changes, badCase.changes ?? []);
  assert.deepEqual(problems, [], `the tree changed\n${changes.join('\n')}\n${shown}`);
}

function expectOutput(
  stream: string,
  output: string,
  expected: ReadonlyArray<string | RegExp>,
  world: World,
  shown: string,
): void {
  for (const wanted of expected) {
    if (typeof wanted === 'string') {
      const text = fill(wanted, world);
      assert.ok(output.includes(text), `${stream} does not say ${JSON.stringify(text)}\n${shown}`);
    } else assert.match(output, wanted, `${stream}\n${shown}`);
  }
}
