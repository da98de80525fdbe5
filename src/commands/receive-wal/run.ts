/**
 * receive-wal SERVER: streams WAL with pg_receivewal until stopped (see receiver.ts);
 * `--stop`, `--reset`, `--create-slot` and `--drop-slot` do one thing and return. Streaming is
 * refused on an inactive server; the other actions work on one (as in Barman).
 */
import { BarmanError, UsageError } from '../../errors/index.js';
import type { ReceiveOutcome } from './receiver.js';
import { receiveWal } from './receiver.js';
import type { ResetOutcome } from './reset.js';
import { createSlot, dropSlot } from './slots.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';
import { terminateTask } from '../shared/terminate-task.js';
import { walStreamingConfig } from '../shared/wal-connections.js';

type Action = 'stop' | 'reset' | 'create-slot' | 'drop-slot';

type Result =
  | { server: string; action: 'stop'; pid: number }
  | { server: string; action: 'create-slot'; slot: string; created: boolean }
  | { server: string; action: 'drop-slot'; slot: string }
  | { server: string; action: 'receive'; receive: ReceiveOutcome }
  | { server: string; action: 'reset'; reset: ResetOutcome }
  | null;

const FLAGS: Readonly<Record<Action, string>> = {
  stop: 'stop',
  reset: 'reset',
  'create-slot': 'createSlot',
  'drop-slot': 'dropSlot',
};

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const actions = (Object.keys(FLAGS) as Action[]).filter(
      (action) => input.options[FLAGS[action]] === true,
    );
    if (actions.length > 1) {
      throw new UsageError(`--${actions.join(' and --')} cannot be used together`);
    }
    const action = actions[0] ?? null;
    if (input.options.ifNotExists === true && action !== 'create-slot') {
      throw new UsageError('--if-not-exists is only valid with --create-slot');
    }
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return null;
    // wal_streaming_conninfo / wal_conninfo, when set, replace streaming_conninfo / conninfo here.
    const config = walStreamingConfig(server.config);
    if (config !== server.config)
      ctx.log.info(
        'WAL streaming uses wal_streaming_conninfo / wal_conninfo instead of streaming_conninfo / conninfo',
      );
    const source = server.sources.encryption;
    const env = {
      config,
      report: ctx.report,
      log: ctx.log.child({ server: server.name }),
      configFile: source && source.kind !== 'default' ? source.file : ctx.config.configFile,
    };
    switch (action) {
      case 'stop': {
        const [pid] = await terminateTask(config, 'receive-wal', ctx.report);
        return { server: server.name, action, pid: pid! };
      }
      case 'create-slot': {
        const outcome = await createSlot(env, { ifNotExists: input.options.ifNotExists === true });
        return { server: server.name, action, slot: config.slot_name!, created: outcome === 'created' };
      }
      case 'drop-slot':
        await dropSlot(env);
        return { server: server.name, action, slot: config.slot_name! };
      case 'reset':
        return {
          server: server.name,
          action,
          reset: (await receiveWal(env, { reset: true })) as ResetOutcome,
        };
      default:
        if (!config.active) {
          throw new BarmanError('server-inactive', `Inactive server: ${server.name}`, {
            hint: 'Set active = true for the server (the slot options, --stop and --reset work on inactive servers).',
          });
        }
        return {
          server: server.name,
          action: 'receive',
          receive: (await receiveWal(env, { reset: false })) as ReceiveOutcome,
        };
    }
  },
  renderConsole: () => [],
  // Barman 3.4's document holds only the messages (`_INFO`, `_ERROR`), which the CLI adds.
  renderJson: () => null,
});
