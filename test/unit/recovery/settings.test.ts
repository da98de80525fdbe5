import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  appendSettings,
  confQuote,
  disableDangerousSettings,
  recoverySettingsLines,
  type RecoverySettingsInput,
} from '../../../src/recovery/settings.js';
import type { RecoveryTargets } from '../../../src/recovery/targets.js';

/**
 * What PostgreSQL's configuration lexer (GUC_scanstr) reads from a quoted value: '' is a quote,
 * a backslash escapes the next character (\n, \t, ... aside, which tests do not use).
 */
function pgUnquote(quoted: string): string {
  assert.ok(quoted.startsWith("'") && quoted.endsWith("'") && quoted.length >= 2, quoted);
  const body = quoted.slice(1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const char = body[i]!;
    if (char === '\\') {
      assert.ok(i + 1 < body.length, `dangling backslash in ${quoted}`);
      out += body[++i];
    } else if (char === "'") {
      assert.equal(body[i + 1], "'", `lone quote in ${quoted}`);
      out += "'";
      i++;
    } else {
      out += char;
    }
  }
  return out;
}

describe('confQuote', () => {
  const rows: Array<[string, string]> = [
    ['', "''"],
    ['abc', "'abc'"],
    ['cp barman_wal/%f %p', "'cp barman_wal/%f %p'"],
    ["it's", "'it''s'"],
    ["''", "''''''"],
    ['C:\\wal', "'C:\\\\wal'"],
    ['\\', "'\\\\'"],
    ["\\'", "'\\\\'''"],
    ["a 'b' \\c\\ d", "'a ''b'' \\\\c\\\\ d'"],
    ['# not a comment', "'# not a comment'"],
    ['été', "'été'"],
  ];
  for (const [value, expected] of rows) {
    test(JSON.stringify(value), () => {
      assert.equal(confQuote(value), expected);
      assert.equal(pgUnquote(confQuote(value)), value);
    });
  }
});

const NO_TARGET: RecoveryTargets = {
  target: { kind: 'none' },
  timeline: null,
  exclusive: false,
  action: null,
  standbyMode: false,
};
const PG16 = 160004;

describe('recoverySettingsLines', () => {
  const rows: Array<[string, RecoverySettingsInput, string[]]> = [
    [
      "Barman's captured PITR tail: copy mode, time, exclusive, promote",
      {
        targets: {
          ...NO_TARGET,
          target: { kind: 'time', epochMs: 0, text: '2026-11-21 04:58:30+00:00' },
          exclusive: true,
          action: 'promote',
        },
        timeline: null,
        restore: { mode: 'copy', walDirectory: 'barman_wal' },
        version: PG16,
      },
      [
        "restore_command = 'cp barman_wal/%f %p'",
        "recovery_end_command = 'rm -fr barman_wal'",
        "recovery_target_time = '2026-11-21 04:58:30+00:00'",
        "recovery_target_inclusive = 'False'",
        "recovery_target_action = 'promote'",
      ],
    ],
    [
      "Barman's captured remote get-wal tail: LSN, pause",
      {
        targets: { ...NO_TARGET, target: { kind: 'lsn', lsn: 0x14000100n }, action: 'pause' },
        timeline: null,
        restore: {
          mode: 'get-wal',
          command: 'barman-wal-restore -P -U barman localhost pgr %f %p',
          comment: "The 'barman-wal-restore' command is provided in the 'barman-cli' package",
        },
        version: PG16,
      },
      [
        "# The 'barman-wal-restore' command is provided in the 'barman-cli' package",
        "restore_command = 'barman-wal-restore -P -U barman localhost pgr %f %p'",
        "recovery_target_lsn = '0/14000100'",
        "recovery_target_action = 'pause'",
      ],
    ],
    [
      'get-wal without a comment',
      {
        targets: NO_TARGET,
        timeline: null,
        restore: { mode: 'get-wal', command: "barman get-wal pg %f > %p # it's" },
        version: PG16,
      },
      ["restore_command = 'barman get-wal pg %f > %p # it''s'"],
    ],
    [
      'get-wal with an empty command writes nothing',
      {
        targets: NO_TARGET,
        timeline: null,
        restore: { mode: 'get-wal', command: '', comment: 'c' },
        version: PG16,
      },
      [],
    ],
    [
      'copy mode without a directory writes nothing',
      { targets: NO_TARGET, timeline: null, restore: { mode: 'copy' }, version: PG16 },
      [],
    ],
    [
      'mode none, no target: nothing',
      { targets: NO_TARGET, timeline: null, restore: { mode: 'none' }, version: PG16 },
      [],
    ],
    [
      // Quoted for the shell that runs it (cp '/srv/o'\''brien\wal'/%f %p), then for postgresql.conf.
      'a WAL directory path with a quote and a backslash',
      {
        targets: NO_TARGET,
        timeline: null,
        restore: { mode: 'copy', walDirectory: "/srv/o'brien\\wal" },
        version: PG16,
      },
      [
        "restore_command = 'cp ''/srv/o''\\\\''''brien\\\\wal''/%f %p'",
        "recovery_end_command = 'rm -fr ''/srv/o''\\\\''''brien\\\\wal'''",
      ],
    ],
    [
      'xid, exclusive, a numeric timeline (unquoted)',
      {
        targets: { ...NO_TARGET, target: { kind: 'xid', xid: '1234' }, exclusive: true },
        timeline: 2,
        restore: { mode: 'none' },
        version: PG16,
      },
      ["recovery_target_xid = '1234'", "recovery_target_inclusive = 'False'", 'recovery_target_timeline = 2'],
    ],
    [
      'name with quotes and backslashes, latest timeline (quoted), shutdown',
      {
        targets: { ...NO_TARGET, target: { kind: 'name', name: "it's \\done" }, action: 'shutdown' },
        timeline: 'latest',
        restore: { mode: 'none' },
        version: PG16,
      },
      [
        "recovery_target_name = 'it''s \\\\done'",
        "recovery_target_timeline = 'latest'",
        "recovery_target_action = 'shutdown'",
      ],
    ],
    [
      'immediate',
      {
        targets: { ...NO_TARGET, target: { kind: 'immediate' } },
        timeline: 1,
        restore: { mode: 'none' },
        version: PG16,
      },
      ["recovery_target = 'immediate'", 'recovery_target_timeline = 1'],
    ],
    [
      'standby mode (PG 16): no recovery_end_command, no standby_mode line (standby.signal instead)',
      {
        targets: { ...NO_TARGET, standbyMode: true },
        timeline: null,
        restore: { mode: 'copy', walDirectory: 'barman_wal' },
        version: PG16,
      },
      ["restore_command = 'cp barman_wal/%f %p'"],
    ],
    [
      "standby mode (PG 11): standby_mode = 'on' in recovery.conf",
      {
        targets: { ...NO_TARGET, standbyMode: true },
        timeline: 3,
        restore: { mode: 'get-wal', command: 'barman get-wal pg %f > %p' },
        version: 110022,
      },
      [
        "restore_command = 'barman get-wal pg %f > %p'",
        'recovery_target_timeline = 3',
        "standby_mode = 'on'",
      ],
    ],
    [
      'PostgreSQL 9.5: recovery_target_action',
      {
        targets: { ...NO_TARGET, target: { kind: 'xid', xid: '9' }, action: 'pause' },
        timeline: null,
        restore: { mode: 'none' },
        version: 90500,
      },
      ["recovery_target_xid = '9'", "recovery_target_action = 'pause'"],
    ],
    [
      'PostgreSQL 9.4: pause_at_recovery_target',
      {
        targets: { ...NO_TARGET, target: { kind: 'xid', xid: '9' }, action: 'pause' },
        timeline: null,
        restore: { mode: 'none' },
        version: 90422,
      },
      ["recovery_target_xid = '9'", "pause_at_recovery_target = 'on'"],
    ],
    [
      'LSN in upper case, exclusive',
      {
        targets: { ...NO_TARGET, target: { kind: 'lsn', lsn: 0x16b374d848n }, exclusive: true },
        timeline: null,
        restore: { mode: 'none' },
        version: PG16,
      },
      ["recovery_target_lsn = '16/B374D848'", "recovery_target_inclusive = 'False'"],
    ],
  ];
  for (const [label, input, expected] of rows) {
    test(label, () => {
      assert.deepEqual(recoverySettingsLines(input), expected);
    });
  }
});

describe('disableDangerousSettings', () => {
  test('archive_command disabled after each occurrence, old targets commented, paths listed (0-based)', () => {
    const content = [
      '# PostgreSQL configuration', // 0
      "listen_addresses = '*'", // 1
      'archive_mode = on', // 2
      "archive_command = 'barman-wal-archive backup pg %p'", // 3
      "#archive_command = 'old'", // 4
      "unix_socket_directories = '/srv/demo/sock'", // 5
      "recovery_target_time = '2020-01-01 00:00:00'", // 6
      "  Archive_Command='x'   # again", // 7
      "include_dir 'conf.d'", // 8
      '',
    ].join('\n');
    const result = disableDangerousSettings(content);
    assert.equal(
      result.content,
      [
        '# PostgreSQL configuration',
        "listen_addresses = '*'",
        'archive_mode = on',
        "#BARMAN#archive_command = 'barman-wal-archive backup pg %p'",
        'archive_command = false',
        "#archive_command = 'old'",
        "unix_socket_directories = '/srv/demo/sock'",
        "#BARMAN#recovery_target_time = '2020-01-01 00:00:00'",
        "#BARMAN#  Archive_Command='x'   # again",
        'archive_command = false',
        "include_dir 'conf.d'",
        '',
      ].join('\n'),
    );
    assert.equal(result.changed, true);
    assert.deepEqual(result.modified, [
      { line: 4, text: 'archive_command = false' },
      { line: 7, text: "#BARMAN#recovery_target_time = '2020-01-01 00:00:00'" },
      { line: 9, text: 'archive_command = false' },
    ]);
    assert.deepEqual(result.review, [
      { line: 6, text: "unix_socket_directories = '/srv/demo/sock'" },
      { line: 10, text: "include_dir 'conf.d'" },
    ]);
  });

  test('nothing dangerous: the content is unchanged', () => {
    const content =
      "port = 5432\n#archive_command = 'x'\n# recovery_target_xid = '1'\nshared_buffers = 128MB";
    assert.deepEqual(disableDangerousSettings(content), {
      content,
      changed: false,
      modified: [],
      review: [],
    });
    assert.deepEqual(disableDangerousSettings(''), { content: '', changed: false, modified: [], review: [] });
  });

  test('review-only settings do not change the file', () => {
    const content = "  hba_file = '/etc/pg/hba.conf'  \n";
    assert.deepEqual(disableDangerousSettings(content), {
      content,
      changed: false,
      modified: [],
      review: [{ line: 0, text: "hba_file = '/etc/pg/hba.conf'" }],
    });
  });

  const archiveForms = [
    "archive_command = 'cp %p /arch/%f'",
    "archive_command='cp %p /arch/%f'",
    "archive_command 'cp %p /arch/%f'",
    "\tarchive_command\t=\t'cp %p /arch/%f'",
    'ARCHIVE_COMMAND = true',
    "archive_command = ''",
  ];
  for (const line of archiveForms) {
    test(`archive_command form ${JSON.stringify(line)}`, () => {
      const result = disableDangerousSettings(`port = 5432\n${line}\n`);
      assert.equal(result.content, `port = 5432\n#BARMAN#${line}\narchive_command = false\n`);
      assert.deepEqual(result.modified, [{ line: 2, text: 'archive_command = false' }]);
    });
  }

  test('CRLF line endings: archive_command is still disabled', () => {
    const result = disableDangerousSettings(
      "port = 5432\r\narchive_command = 'cp %p /arch/%f'\r\nhba_file = '/h'\r\n",
    );
    assert.equal(
      result.content,
      "port = 5432\r\n#BARMAN#archive_command = 'cp %p /arch/%f'\r\narchive_command = false\nhba_file = '/h'\r\n",
    );
    assert.deepEqual(result.modified, [{ line: 2, text: 'archive_command = false' }]);
    assert.deepEqual(result.review, [{ line: 3, text: "hba_file = '/h'" }]);
  });

  test('archive_library commented out, no replacement line; reported trimmed with its 0-based line', () => {
    const content = [
      'archive_mode = on', // 0
      "  archive_library = 'basic_archive'   # PG 15+", // 1
      "basic_archive.archive_directory = '/arch'", // 2
      "archive_command = 'cp %p /arch/%f'", // 3
      "ARCHIVE_LIBRARY='other'", // 4
      '',
    ].join('\n');
    const result = disableDangerousSettings(content);
    assert.equal(
      result.content,
      [
        'archive_mode = on',
        "#BARMAN#  archive_library = 'basic_archive'   # PG 15+",
        "basic_archive.archive_directory = '/arch'",
        "#BARMAN#archive_command = 'cp %p /arch/%f'",
        'archive_command = false',
        "#BARMAN#ARCHIVE_LIBRARY='other'",
        '',
      ].join('\n'),
    );
    assert.equal(result.changed, true);
    assert.deepEqual(result.modified, [
      { line: 1, text: "#BARMAN#archive_library = 'basic_archive'   # PG 15+" },
      { line: 4, text: 'archive_command = false' },
      { line: 5, text: "#BARMAN#ARCHIVE_LIBRARY='other'" },
    ]);
    assert.deepEqual(result.review, []);
  });

  const libraryForms = [
    "archive_library = 'basic_archive'",
    "archive_library='basic_archive'",
    "archive_library 'basic_archive'",
    "\tarchive_library\t=\t'basic_archive'",
    "archive_library = ''",
  ];
  for (const line of libraryForms) {
    test(`archive_library form ${JSON.stringify(line)}`, () => {
      const result = disableDangerousSettings(`port = 5432\n${line}\n`);
      assert.equal(result.content, `port = 5432\n#BARMAN#${line}\n`);
      assert.deepEqual(result.modified, [{ line: 1, text: `#BARMAN#${line.trim()}` }]);
      assert.equal(result.changed, true);
    });
  }

  test('CRLF line endings: archive_library is commented out, reported without the \\r', () => {
    const result = disableDangerousSettings("port = 5432\r\narchive_library = 'basic_archive'\r\n");
    assert.equal(result.content, "port = 5432\r\n#BARMAN#archive_library = 'basic_archive'\r\n");
    assert.deepEqual(result.modified, [{ line: 1, text: "#BARMAN#archive_library = 'basic_archive'" }]);
  });

  const untouched = [
    "archive_cleanup_command = 'pg_archivecleanup /arch %r'",
    "archive_command_extra = 'x'",
    "my.archive_command = 'x'",
    'archive_timeout = 60',
    "restore_command = 'cp /arch/%f %p'",
    "primary_conninfo = 'host=pg'",
    "# archive_command = 'x'",
    "#archive_library = 'basic_archive'",
    "archive_library_extra = 'x'",
    "basic_archive.archive_directory = '/arch'",
    "#recovery_target_name = 'x'",
    "log_line_prefix = 'archive_command = %m'",
    'recovery_min_apply_delay = 0',
  ];
  for (const line of untouched) {
    test(`left alone: ${JSON.stringify(line)}`, () => {
      const result = disableDangerousSettings(`${line}\n`);
      assert.equal(result.content, `${line}\n`);
      assert.equal(result.changed, false);
      assert.deepEqual(result.review, []);
    });
  }

  const targets = [
    "recovery_target = 'immediate'",
    "recovery_target_time = '2026-01-01'",
    "recovery_target_xid = '1'",
    "recovery_target_lsn = '0/1'",
    "recovery_target_name = 'x'",
    "recovery_target_inclusive = 'False'",
    "recovery_target_timeline = 'latest'",
    "recovery_target_action = 'promote'",
    "  RECOVERY_TARGET_XID '5'",
  ];
  for (const line of targets) {
    test(`commented out: ${JSON.stringify(line)}`, () => {
      const result = disableDangerousSettings(`port = 1\n${line}`);
      assert.equal(result.content, `port = 1\n#BARMAN#${line}`);
      assert.deepEqual(result.modified, [{ line: 1, text: `#BARMAN#${line}` }]);
      assert.equal(result.changed, true);
    });
  }

  const review = [
    'data_directory',
    'config_file',
    'hba_file',
    'ident_file',
    'external_pid_file',
    'ssl_cert_file',
    'ssl_key_file',
    'ssl_ca_file',
    'ssl_crl_file',
    'unix_socket_directory',
    'unix_socket_directories',
    'include',
    'include_dir',
    'include_if_exists',
  ];
  test('every setting to review is listed, in order, with its 0-based line', () => {
    const content = review.map((name, index) => `${name} = '/path/${index}'`).join('\n');
    const result = disableDangerousSettings(`# header\n${content}`);
    assert.equal(result.changed, false);
    assert.deepEqual(
      result.review,
      review.map((name, index) => ({ line: index + 1, text: `${name} = '/path/${index}'` })),
    );
  });
});

describe('appendSettings', () => {
  const rows: Array<[string, string, string]> = [
    ['an empty file', '', '# Recovery settings\na = 1\nb = 2\n'],
    ['a file ending with a newline', 'x = 1\n', 'x = 1\n# Recovery settings\na = 1\nb = 2\n'],
    ['a file without a final newline', 'x = 1', 'x = 1\n# Recovery settings\na = 1\nb = 2\n'],
    ['a file ending with a blank line', 'x = 1\n\n', 'x = 1\n\n# Recovery settings\na = 1\nb = 2\n'],
  ];
  for (const [label, content, expected] of rows) {
    test(label, () => {
      assert.equal(appendSettings(content, 'Recovery settings', ['a = 1', 'b = 2']), expected);
    });
  }
});
