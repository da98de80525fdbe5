/** The one mapping of failed system calls to operator messages, and the range checks of numbers. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { userInfo } from 'node:os';
import { describeError } from '../../../src/errors/index.js';
import type { SystemError } from '../../../src/errors/system.js';
import { fromSystemError, isSystemError, systemErrorMessage, withPath } from '../../../src/errors/system.js';
import { checkWholeNumber, SECONDS } from '../../../src/util/whole-number.js';

function systemError(code: string, syscall: string, path?: string, dest?: string): SystemError {
  const target = path === undefined ? '' : ` '${path}'${dest ? ` -> '${dest}'` : ''}`;
  return Object.assign(new Error(`${code}: something failed, ${syscall}${target}`), {
    code,
    syscall,
    ...(path !== undefined ? { path } : {}),
    ...(dest !== undefined ? { dest } : {}),
  });
}

describe('failed system calls', () => {
  it('name the operation, the path, the reason and the errno', () => {
    const error = systemError('EACCES', 'mkdir', '/srv/barman/pg');
    assert.ok(isSystemError(error));
    assert.equal(
      systemErrorMessage(error),
      "cannot create the directory '/srv/barman/pg': permission denied (EACCES)",
    );
    assert.equal(
      systemErrorMessage(systemError('EXDEV', 'rename', '/a', '/b')),
      "cannot rename '/a' to '/b': the paths are on different file systems (EXDEV)",
    );
    assert.equal(
      systemErrorMessage(systemError('ENOSPC', 'write')),
      'cannot write: no space left on device (ENOSPC)',
    );
  });

  it('keep Node’s reason for an errno without a sentence of its own', () => {
    assert.equal(
      systemErrorMessage(systemError('ECONNRESET', 'read', '/x')),
      "cannot read '/x': something failed (ECONNRESET)",
    );
  });

  it('become a BarmanError with a hint naming the path and the OS user', () => {
    const error = fromSystemError(systemError('EACCES', 'open', '/srv/barman/pg/wals/xlog.db'));
    assert.equal(error.code, 'fs-eacces');
    assert.equal(error.exitCode, 1);
    assert.match(error.hint ?? '', new RegExp(`OS user '${userInfo().username}' \\(barman_user\\)`));
    assert.match(error.hint ?? '', /'\/srv\/barman\/pg\/wals\/xlog\.db'/);
    assert.equal(
      fromSystemError(systemError('EIO', 'read', '/x'), 'archive-wal stopped').message,
      "archive-wal stopped: cannot read '/x': input/output error (EIO)",
    );
  });

  it('get a path recorded only when they have none, and describeError shows it', () => {
    const read = withPath(systemError('EISDIR', 'read'), '/x/backup.info');
    assert.equal(read.path, '/x/backup.info');
    assert.equal(describeError(read), "EISDIR: something failed, read '/x/backup.info'");
    assert.equal(withPath(systemError('EACCES', 'open', '/first'), '/second').path, '/first');
    // Not a system error: a path property means something else (a lock's path) and is not shown.
    const other = Object.assign(new Error('Another backup process is running'), {
      code: 'lock-busy',
      path: '/l',
    });
    assert.equal(describeError(other), 'Another backup process is running');
    assert.equal(isSystemError(other), false);
  });
});

describe('whole numbers typed by the operator', () => {
  it('are refused when out of range, quoting the digits as typed', () => {
    assert.equal(
      checkWholeNumber('99999999999999999999999'),
      'must be at most 2147483647, got 99999999999999999999999',
    );
    assert.equal(
      checkWholeNumber('-99999999999999999999999', { min: 0 }),
      'must be at least 0, got -99999999999999999999999',
    );
    assert.equal(checkWholeNumber('-5', SECONDS), 'must be at least 0 seconds, got -5');
    assert.equal(checkWholeNumber('2147484', SECONDS), 'must be at most 2147483 seconds, got 2147484');
    assert.equal(checkWholeNumber('1.5'), "expected an integer, got '1.5'");
    assert.equal(checkWholeNumber('1e3'), "expected an integer, got '1e3'");
  });

  it('are accepted with a sign and within range', () => {
    assert.equal(checkWholeNumber('+7', { min: 1 }), 7);
    assert.equal(checkWholeNumber('2147483', SECONDS), 2147483);
    assert.equal(checkWholeNumber('0', { min: 0 }), 0);
  });
});
