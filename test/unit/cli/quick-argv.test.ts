import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCommandLine } from '../../../src/cli/program.js';
import { parseQuickCommandLine, QUICK_COMMANDS } from '../../../src/cli/quick-argv.js';
import { COMMANDS } from '../../../src/commands/registry.js';

const silent = { out: () => {}, err: () => {} };

/** What commander makes of argv, in the shape the quick parser returns. */
function viaCommander(argv: string[]) {
  const outcome = parseCommandLine(argv, COMMANDS, '0.0.0', silent);
  assert.equal(outcome.kind, 'run', `commander refused ${argv.join(' ')}`);
  const { definition, args, options, overrides, globals } = outcome.invocation;
  return { name: definition.name, args, options: { ...options }, overrides, globals: { ...globals } };
}

function viaQuick(argv: string[]) {
  const invocation = parseQuickCommandLine(argv, COMMANDS);
  if (!invocation) return undefined;
  const { definition, args, options, overrides, globals } = invocation;
  return { name: definition.name, args, options, overrides, globals };
}

describe('quick command-line parser (archive_command and restore_command paths)', () => {
  const accepted = [
    ['cloud-wal-archive', 'main', 'pg_wal/000000010000000000000001'],
    ['-c', '/etc/barman.conf', 'cloud-wal-archive', '--async', 'main', 'pg_wal/000000010000000000000001'],
    ['--config=/etc/b.conf', '-q', 'cloud-wal-archive', 'main', '/x/000000010000000000000001', '--async'],
    ['--quiet', '--config', 'b.conf', 'cloud-wal-archive', '--timeout', '5', 'main', 'f'],
    ['cloud-wal-archive', '--timeout=7', '-t', 'main', 'f'],
    ['put-wal', 'main', '--file', 'pg_wal/000000010000000000000001'],
    ['-c', 'b.conf', 'put-wal', '-t', 'main'],
    ['get-wal', 'main', '000000010000000000000001'],
    ['get-wal', '-o', '/tmp/out', '-P', 'main', '000000010000000000000001'],
    ['get-wal', '--output-directory=/tmp/out', '-z', 'main', '000000010000000000000001'],
    ['get-wal', '-x', '-j', '--keep-compression', 'main', '00000002.history'],
    ['get-wal', '--peek', '3', 'main', '000000010000000000000001'],
  ];
  for (const argv of accepted) {
    test(`same result as commander: barman ${argv.join(' ')}`, () => {
      assert.deepEqual(viaQuick(argv), viaCommander(argv));
    });
  }

  const declined = [
    [],
    ['list-server'],
    ['-f', 'json', 'get-wal', 'main', '000000010000000000000001'],
    ['-d', 'cloud-wal-archive', 'main', 'f'],
    ['cloud-wal-archive', 'main'],
    ['cloud-wal-archive', 'main', 'f', 'extra'],
    ['cloud-wal-archive', '--timeout'],
    ['cloud-wal-archive', '--timeout', '--async', 'main', 'f'],
    ['cloud-wal-archive', '--asinc', 'main', 'f'],
    ['cloud-wal-archive', '--async=yes', 'main', 'f'],
    ['cloud-wal-archive', '-c', 'b.conf', 'main', 'f'],
    ['get-wal', '-zx', 'main', '000000010000000000000001'],
    ['-c'],
    ['--help'],
    ['cloud-wal-archive', '--help'],
  ];
  for (const argv of declined) {
    test(`leaves to commander: barman ${argv.join(' ')}`, () => {
      assert.equal(parseQuickCommandLine(argv, COMMANDS), undefined);
    });
  }

  test('every quick command exists and has only plain options', () => {
    for (const name of QUICK_COMMANDS) {
      const definition = COMMANDS.find((command) => command.name === name);
      assert.ok(definition, name);
      const argv = [name, ...(definition.arguments ?? []).map((argument) => `${argument.name}-value`)];
      assert.ok(parseQuickCommandLine(argv, COMMANDS), `${name} is declined`);
    }
  });
});
