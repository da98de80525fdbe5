/**
 * Physical replication slots managed over a replication connection (`replication=true`, the
 * streaming_conninfo), as Barman does with `CREATE_REPLICATION_SLOT <name> PHYSICAL` and
 * `DROP_REPLICATION_SLOT <name>`: a role with only the REPLICATION attribute can do it, and no
 * database name is needed. Also the synchronous_standby_names parsing that decides whether
 * pg_receivewal runs with `--synchronous`.
 */
import pg from 'pg';
import type { PostgresClient } from './client.js';
import { clientConfig, describe, PostgresError } from './client.js';
import { parseConnInfo } from './conninfo.js';
import { show } from './server.js';

/** Why a slot operation was refused, from the SQLSTATE PostgreSQL answered with. */
export type SlotFailure = 'exists' | 'missing' | 'in-use' | 'full' | 'connection' | 'other';

const SQLSTATE_FAILURES: Readonly<Record<string, SlotFailure>> = {
  '42710': 'exists', // duplicate_object
  '42704': 'missing', // undefined_object
  '55006': 'in-use', // object_in_use
  '53400': 'full', // configuration_limit_exceeded
};

export class ReplicationSlotError extends PostgresError {
  constructor(
    readonly failure: SlotFailure,
    message: string,
    cause?: unknown,
  ) {
    super(message, cause);
    this.name = 'ReplicationSlotError';
  }
}

/** Slot names Barman accepts (`slot_name` is validated the same way in the configuration). */
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

function checkSlotName(name: string): void {
  if (!SLOT_NAME.test(name)) {
    throw new ReplicationSlotError(
      'other',
      `invalid replication slot name '${name}': only lower-case letters, digits and '_' are allowed`,
    );
  }
}

/** Opens a physical replication connection, runs `work`, and closes it. */
async function withReplicationConnection<T>(
  conninfo: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(
    clientConfig(parseConnInfo(conninfo), { applicationName: 'barman', replication: true }),
  );
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw new ReplicationSlotError(
      'connection',
      `cannot open a replication connection (${describe(conninfo)}): ${(error as Error).message}`,
      error,
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

async function slotCommand(conninfo: string, command: string): Promise<void> {
  await withReplicationConnection(conninfo, async (client) => {
    try {
      await client.query(command);
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      throw new ReplicationSlotError(
        SQLSTATE_FAILURES[code] ?? 'other',
        `${command} failed: ${(error as Error).message}`,
        error,
      );
    }
  });
}

/** `CREATE_REPLICATION_SLOT <name> PHYSICAL`; ReplicationSlotError('exists') when it is there already. */
export async function createReplicationSlot(streamingConninfo: string, name: string): Promise<void> {
  checkSlotName(name);
  await slotCommand(streamingConninfo, `CREATE_REPLICATION_SLOT ${name} PHYSICAL`);
}

/** `DROP_REPLICATION_SLOT <name>`; ReplicationSlotError('missing' | 'in-use') when refused. */
export async function dropReplicationSlot(streamingConninfo: string, name: string): Promise<void> {
  checkSlotName(name);
  await slotCommand(streamingConninfo, `DROP_REPLICATION_SLOT ${name}`);
}

/**
 * The names listed in synchronous_standby_names, as Barman reads them: the list inside the
 * parentheses of `FIRST 2 (a, b)` / `ANY 1 (a, b)`, or the whole value; quotes removed.
 */
export function parseSynchronousStandbyNames(value: string | null): string[] {
  if (!value) return [];
  return splitSynchronousStandbyNames(value).filter((name) => name.length > 0);
}

/**
 * Barman's own list, empty names kept (an unset value is `['']`, as show-server prints it): the
 * text after the first `(` up to the last `)`, split at commas, trimmed, double quotes removed.
 */
export function splitSynchronousStandbyNames(value: string): string[] {
  const close = value.lastIndexOf(')');
  const inner = value.slice(value.indexOf('(') + 1, close < 0 ? value.length : close);
  return inner.split(',').map((name) => name.trim().replace(/^"+|"+$/g, ''));
}

export async function synchronousStandbyNames(client: PostgresClient): Promise<string[]> {
  return parseSynchronousStandbyNames(await show(client, 'synchronous_standby_names'));
}
