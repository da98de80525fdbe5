/**
 * cron's part of WAL streaming: with streaming_archiver = on and no receive-wal holding its lock,
 * start `barman -c <config> -q receive-wal <server>` as a detached process (new session, standard
 * streams on /dev/null) and return at once; with streaming_archiver = off, stop a running one.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerConfig } from '../../config/index.js';
import { describeError } from '../../errors/index.js';
import { spawnDetached } from '../../process/supervise.js';
import { receiverPid, stopReceiver } from './receiver.js';
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
    if (receiverPid(config) !== null) return;
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

/**
 * `bin/barman.js` of this installation: the first one found walking up from this module (the
 * esbuild bundle in dist/bundle/ and the tsc output in dist/src/ sit at different depths).
 */
function cliEntry(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(directory, 'bin', 'barman.js');
    if (existsSync(candidate)) return candidate;
    const parent = dirname(directory);
    if (parent === directory) break;
    directory = parent;
  }
  if (process.argv[1]) return process.argv[1];
  throw new Error('cannot find the barman CLI entry (bin/barman.js)');
}
