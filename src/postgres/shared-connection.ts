/**
 * One regular PostgreSQL connection shared by the steps of one command run — a backup's
 * `--incremental` checks, pre-backup check, start, data page check, executor and finish —
 * instead of one connection per step (each costs a fork on the server and, with TLS or a
 * password, a handshake). Opened on first use; opened again when it was lost or closed; closed
 * by close(), which the run calls in a `finally`, so no error path leaks it. Steps borrow the
 * client and never close it themselves.
 */
import type { ConnectOptions } from './client.js';
import { PostgresClient } from './client.js';

export class SharedConnection {
  private opening: Promise<PostgresClient> | null = null;

  constructor(
    readonly conninfo: string,
    private readonly options: ConnectOptions = {},
  ) {}

  /** The run's session, connected if needed; rejects (a PostgresError) when it cannot connect. */
  async client(): Promise<PostgresClient> {
    const current = this.opening ? await this.opening.catch(() => null) : null;
    if (current?.usable) return current;
    // Lost (server restarted, backend terminated) or never opened: a new session.
    if (current) await current.close();
    const opening = this.open();
    this.opening = opening;
    opening.catch(() => {
      if (this.opening === opening) this.opening = null;
    });
    return opening;
  }

  /** Ends the session (a later client() opens a new one); never throws. */
  async close(): Promise<void> {
    const opening = this.opening;
    this.opening = null;
    const client = opening ? await opening.catch(() => null) : null;
    await client?.close();
  }

  private async open(): Promise<PostgresClient> {
    const client = await PostgresClient.connect(this.conninfo, this.options);
    try {
      // The session waits through a whole copy, and between the steps of the run (hooks):
      // idle_session_timeout must not end it.
      if (client.serverVersion >= 140000) await client.query('SET idle_session_timeout TO 0');
    } catch (error) {
      await client.close();
      throw error;
    }
    return client;
  }
}
