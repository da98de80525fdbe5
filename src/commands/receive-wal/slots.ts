/**
 * The replication slot of receive-wal: `--create-slot`, `--drop-slot` (Barman's messages), and the
 * quiet creation receive-wal does itself when create_slot = auto.
 */
import type { ServerConfig } from '../../config/index.js';
import { BarmanError, describeError } from '../../errors/index.js';
import { createReplicationSlot, dropReplicationSlot, ReplicationSlotError } from '../../postgres/index.js';
import type { ReceiverEnvironment } from './receiver.js';

function requireSlotName(config: ServerConfig, what: 'create' | 'drop'): string {
  if (config.slot_name) return config.slot_name;
  throw new BarmanError(
    'slot-name-missing',
    `Unable to ${what} a physical replication slot: slot_name configuration option required for server '${config.name}'`,
  );
}

function connectionFailure(config: ServerConfig, error: ReplicationSlotError): BarmanError {
  return new BarmanError(
    'postgres-unreachable',
    `Cannot connect to server '${config.name}': ${error.message}`,
    {
      cause: error,
      hint: 'Check streaming_conninfo, and that pg_hba.conf allows replication connections for its user.',
    },
  );
}

/** `--create-slot`: CREATE_REPLICATION_SLOT over streaming_conninfo. */
export async function createSlot(
  env: ReceiverEnvironment,
  options: { ifNotExists: boolean },
): Promise<'created' | 'exists'> {
  const { config, report } = env;
  const slot = requireSlotName(config, 'create');
  report.info(`Creating physical replication slot '${slot}' on server '${config.name}'`);
  try {
    await createReplicationSlot(config.streaming_conninfo, slot);
  } catch (error) {
    if (error instanceof ReplicationSlotError) {
      if (error.failure === 'exists' && options.ifNotExists) {
        report.info(`Replication slot '${slot}' already exists`);
        return 'exists';
      }
      if (error.failure === 'exists') {
        throw new BarmanError('slot-exists', `Replication slot '${slot}' already exists`, { cause: error });
      }
      if (error.failure === 'full') {
        throw new BarmanError('slots-full', `All replication slots for server '${config.name}' are in use`, {
          cause: error,
          hint: "Raise max_replication_slots in PostgreSQL's configuration (restart needed), or drop an unused slot.",
        });
      }
      if (error.failure === 'connection') throw connectionFailure(config, error);
    }
    throw new BarmanError(
      'slot-create-failed',
      `Cannot create replication slot '${slot}' on server '${config.name}': ${describeError(error)}`,
      { cause: error },
    );
  }
  report.info(`Replication slot '${slot}' created`);
  return 'created';
}

/** `--drop-slot`: DROP_REPLICATION_SLOT over streaming_conninfo (refused while the slot is in use). */
export async function dropSlot(env: ReceiverEnvironment): Promise<void> {
  const { config, report } = env;
  const slot = requireSlotName(config, 'drop');
  report.info(`Dropping physical replication slot '${slot}' on server '${config.name}'`);
  try {
    await dropReplicationSlot(config.streaming_conninfo, slot);
  } catch (error) {
    if (error instanceof ReplicationSlotError) {
      if (error.failure === 'missing') {
        throw new BarmanError('slot-missing', `Replication slot '${slot}' does not exist`, { cause: error });
      }
      if (error.failure === 'in-use') {
        throw new BarmanError(
          'slot-in-use',
          `Cannot drop replication slot '${slot}' on server '${config.name}' because it is in use.`,
          {
            cause: error,
            hint: `Stop the process streaming with it first (barman receive-wal --stop ${config.name}).`,
          },
        );
      }
      if (error.failure === 'connection') throw connectionFailure(config, error);
    }
    throw new BarmanError(
      'slot-drop-failed',
      `Cannot drop replication slot '${slot}' on server '${config.name}': ${describeError(error)}`,
      { cause: error },
    );
  }
  report.info(`Replication slot '${slot}' dropped`);
}

export async function createSlotQuietly(config: ServerConfig, slot: string): Promise<void> {
  try {
    await createReplicationSlot(config.streaming_conninfo, slot);
  } catch (error) {
    // Created meanwhile by someone else: fine, pg_receivewal reports if it is in use.
    if (error instanceof ReplicationSlotError && error.failure === 'exists') return;
    throw new BarmanError(
      'slot-create-failed',
      `Cannot create replication slot '${slot}' on server '${config.name}': ${describeError(error)}`,
      { cause: error },
    );
  }
}
