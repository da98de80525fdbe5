/**
 * Backups of a standby (`conninfo` points to a standby, `primary_conninfo` to its primary). A
 * standby writes no WAL and cannot switch it: the last WAL file a backup needs is completed (and
 * archived) only when the primary switches to a new one. So while the backup's stop waits for
 * that file, barman-ts issues pg_switch_wal() on the primary: after one second, then every
 * 10 seconds, at most 10 times; when primary_checkpoint_timeout is set and the stop still waits
 * after that, it waits that many seconds more and forces a CHECKPOINT and a switch (Barman's
 * StandbyPostgreSQLConnection). After the backup the primary switches WAL instead of the standby.
 */
import { describeError } from '../errors/index.js';
import * as postgres from '../postgres/index.js';
import type { BackupRequest } from './types.js';

export interface SwitcherOptions {
  /** Whether the stop is waiting yet (polled every second); default: from the start. */
  ready?: () => Promise<boolean>;
  times?: number;
  intervalMs?: number;
  firstDelayMs?: number;
}

export interface PrimarySwitcher {
  /** Stops switching and closes the primary's connection. */
  stop(): Promise<void>;
}

/** Switches WAL on the primary while the standby's backup waits for its last WAL file. */
export function startPrimaryWalSwitcher(
  request: BackupRequest,
  primaryConninfo: string,
  options: SwitcherOptions = {},
): PrimarySwitcher {
  const times = options.times ?? 10;
  const intervalMs = options.intervalMs ?? 10_000;
  const checkpointTimeoutMs = request.config.primary_checkpoint_timeout * 1000;
  const abort = new AbortController();
  let client: postgres.PostgresClient | null = null;
  let switches = 0;
  let failures = 0;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      if (abort.signal.aborted) return resolve();
      const wake = () => {
        clearTimeout(timer);
        abort.signal.removeEventListener('abort', wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      abort.signal.addEventListener('abort', wake);
    });
  const primary = async () => (client ??= await postgres.PostgresClient.connect(primaryConninfo));
  const switchOnce = async () => {
    const { closed } = await postgres.switchWal(await primary());
    switches += 1;
    request.log.info(
      closed
        ? `pg_switch_wal() on the primary closed WAL file ${closed} (switch ${switches} of ${times})`
        : `pg_switch_wal() on the primary: no switch needed (switch ${switches} of ${times})`,
    );
  };

  const loop = async () => {
    await sleep(options.firstDelayMs ?? 1000);
    if (options.ready) {
      while (!abort.signal.aborted && !(await options.ready().catch(() => false))) await sleep(1000);
    }
    for (let attempt = 0; attempt < times && !abort.signal.aborted; attempt += 1) {
      try {
        await switchOnce();
      } catch (error) {
        const message = `cannot switch WAL on the primary (primary_conninfo): ${describeError(error)}`;
        // Once on the console; the retries go to the log.
        if (failures++ === 0) request.report.warning(message);
        else request.log.warning(message);
      }
      await sleep(intervalMs);
    }
    if (abort.signal.aborted || checkpointTimeoutMs <= 0) return;
    request.report.warning(
      `barman-ts switched WAL ${times} times on the primary, but the backup has not completed yet: ` +
        `a CHECKPOINT will be forced on the primary in ${request.config.primary_checkpoint_timeout} seconds`,
    );
    await sleep(checkpointTimeoutMs);
    if (abort.signal.aborted) return;
    try {
      await forceCheckpointOnPrimary(request, primaryConninfo, await primary());
    } catch (error) {
      request.report.warning(`cannot force a CHECKPOINT on the primary: ${describeError(error)}`);
    }
  };
  const running = loop();

  return {
    async stop() {
      abort.abort();
      await running;
      await client?.close();
    },
  };
}

/** pg_switch_wal() on the primary after the backup (closes the segment holding its end). */
export async function switchWalOnPrimary(request: BackupRequest, primaryConninfo: string): Promise<void> {
  let client: postgres.PostgresClient | null = null;
  try {
    client = await postgres.PostgresClient.connect(primaryConninfo);
    const { closed } = await postgres.switchWal(client);
    request.log.info(
      closed
        ? `pg_switch_wal() on the primary closed WAL file ${closed}`
        : 'no WAL switch needed on the primary',
    );
  } catch (error) {
    request.report.warning(
      `cannot switch WAL on the primary (primary_conninfo) after the backup: ${describeError(error)}`,
    );
  } finally {
    await client?.close();
  }
}

/** CHECKPOINT then pg_switch_wal() on the primary: WAL to switch away from even on an idle primary. */
export async function forceCheckpointOnPrimary(
  request: Pick<BackupRequest, 'log'>,
  primaryConninfo: string,
  existing?: postgres.PostgresClient,
): Promise<void> {
  const client = existing ?? (await postgres.PostgresClient.connect(primaryConninfo));
  try {
    await postgres.checkpoint(client);
    const { closed } = await postgres.switchWal(client);
    request.log.info(
      `CHECKPOINT forced on the primary${closed ? `; pg_switch_wal() closed WAL file ${closed}` : ''}`,
    );
  } finally {
    if (!existing) await client.close();
  }
}
