/**
 * cron's part of WAL streaming: with streaming_archiver = on and no receive-wal holding its lock,
 * start `barman -c <config> -q receive-wal <server>` as a detached process (new session, standard
 * streams on /dev/null) and return at once; with streaming_archiver = off, stop a running one.
 */
import type { ServerConfig } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import { cliEntry } from '../../process/cli-entry.js';
import { spawnDetached } from '../../process/supervise.js';
import { receiverRunning, stopReceiver } from './receiver.js';
import type { CommandContext } from '../definition.js';

/** How long cron waits for a receive-wal it stops (streaming_archiver turned off). */
const CRON_STOP_WAIT_MS = 10_000;

export async function superviseReceiveWal(ctx: CommandContext, config: ServerConfig): Promise<void> {
  const name = config.name;
  try {
    if (!config.streaming_archiver) {
      const stopped = await stopReceiver(config, CRON_STOP_WAIT_MS);
      if (stopped?.stopped) ctx.report.info(`Stopped process receive-wal(${stopped.pid})`);
      else if (stopped) ctx.report.error(`Cannot terminate process receive-wal(${stopped.pid})`);
      return;
    }
    if (receiverRunning(config)) return;
    ctx.report.info(`Starting streaming archiver for server ${name}`);
    const pid = spawnDetached(process.execPath, [
      cliEntry(),
      '-c',
      ctx.config.configFile,
      '-q',
      'receive-wal',
      name,
    ]);
    ctx.log.info(`started receive-wal for server ${name}`, { pid });
  } catch (error) {
    ctx.report.error(`Unable to supervise receive-wal for server ${name}: ${describeError(error)}`);
  }
}
