/**
 * What the checks of one server share: its configuration and layout, the collector results go
 * to, the abort signal of check_timeout, and facts gathered once, lazily (the catalogue, the
 * PostgreSQL and streaming probes). Each module's checks (*-checks.ts) take it.
 */
import type { CatalogBackup } from '../../../catalog/backups.js';
import { statusOf } from '../../../catalog/backups.js';
import type { ServerLayout } from '../../../catalog/layout.js';
import { serverLayout } from '../../../catalog/layout.js';
import type { ServerConfig, ServerEntry } from '../../../config/index.js';
import { describeError } from '../../../errors/index.js';
import type { ExecutorCheckContext } from '../../../executors/index.js';
import type { Logger } from '../../../log/index.js';
import type { Reporter } from '../../../output/reporter.js';
import type { PgTool } from '../../../process/postgres-tools.js';
import { toolCompatible, toolSearchPath } from '../../../process/postgres-tools.js';
import type { ServerCatalog } from '../backup-catalog.js';
import { hasCloudCatalog, loadServerCatalog } from '../backup-catalog.js';
import type { PostgresProbe, StreamingProbe } from '../../../postgres/probe.js';
import type { SharedConnection } from '../../../postgres/index.js';
import { majorVersion, versionText } from '../../../postgres/index.js';
import { probePostgres, probeStreaming, usesStreamingConnection } from '../../../postgres/probe.js';
import type { CatalogueArea } from '../../../recovery/protected-paths.js';
import type { CheckCollector } from './results.js';

export interface ServerCheckOptions {
  log: Logger;
  /** Receives warnings about an unreadable catalogue (backup.info, xlog.db lines). */
  report: Reporter;
  /** Seconds for the whole check of the server; 0 = no limit. */
  timeoutSeconds: number;
  /** Every directory of the catalogue (all servers'): where a restore drill must not go. */
  catalogueAreas: readonly CatalogueArea[];
  nowMs?: number;
  /** The pre-backup check of an incremental backup, which barman-ts's own client always takes. */
  incrementalBackup?: boolean;
  /** The backup run's shared PostgreSQL session (the pre-backup check), used for `conninfo`. */
  connection?: SharedConnection;
}

const DONE_STATUSES = new Set(['DONE', 'WAITING_FOR_WALS']);

export class CheckContext implements ExecutorCheckContext {
  readonly config: ServerConfig;
  readonly nowMs: number;
  readonly searchPath: string;
  readonly catalogueAreas: readonly CatalogueArea[];
  readonly incrementalBackup: boolean;
  private layoutPromise: Promise<ServerLayout | null> | undefined;
  private catalogPromise: Promise<ServerCatalog | null> | undefined;
  private pgPromise: Promise<PostgresProbe> | undefined;
  private streamingPromise: Promise<StreamingProbe | null> | undefined;

  constructor(
    readonly entry: ServerEntry,
    readonly c: CheckCollector,
    readonly signal: AbortSignal,
    readonly log: Logger,
    private readonly options: ServerCheckOptions,
  ) {
    this.config = entry.config;
    this.nowMs = options.nowMs ?? Date.now();
    this.searchPath = toolSearchPath(entry.config.path_prefix);
    this.catalogueAreas = options.catalogueAreas;
    this.incrementalBackup = options.incrementalBackup === true;
  }

  /** Barman's local layout (xlog.db), or null for a catalogue in object storage. */
  layout(): Promise<ServerLayout | null> {
    this.layoutPromise ??= serverLayout(this.config).catch((error: unknown) => {
      // Object-storage catalogues (local-to-cloud): the local catalogue checks do not apply.
      this.log.debug(`no local catalogue: ${describeError(error)}`);
      return null;
    });
    return this.layoutPromise;
  }

  catalog(): Promise<ServerCatalog | null> {
    // A local-to-cloud server's catalogue is read from the bucket (backup.info objects, WAL
    // listing): when the bucket cannot be listed, one check says why and the checks that need
    // the catalogue are left out.
    this.catalogPromise ??= this.layout().then((layout) =>
      layout
        ? loadServerCatalog(this.config, this.options.report, this.nowMs)
        : hasCloudCatalog(this.config)
          ? loadServerCatalog(this.config, this.options.report, this.nowMs).catch((error: unknown) => {
              this.c.add('cloud backup catalogue', false, describeError(error));
              return null;
            })
          : null,
    );
    return this.catalogPromise;
  }

  pg(): Promise<PostgresProbe> {
    this.pgPromise ??= probePostgres(this.config, {
      log: this.log,
      signal: this.signal,
      connection: this.options.connection,
    });
    return this.pgPromise;
  }

  streaming(): Promise<StreamingProbe | null> {
    this.streamingPromise ??= usesStreamingConnection(this.config)
      ? probeStreaming(this.config, { log: this.log, signal: this.signal })
      : Promise.resolve(null);
    return this.streamingPromise;
  }

  /** The server version as the replication connection reports it, else the normal connection's. */
  async serverVersion(): Promise<number | null> {
    const streaming = await this.streaming();
    return streaming?.identity?.serverVersion || (await this.pg()).serverVersion;
  }

  async lastBackup(): Promise<CatalogBackup | null> {
    const catalog = await this.catalog();
    return catalog?.backups.filter((backup) => DONE_STATUSES.has(statusOf(backup))).at(-1) ?? null;
  }

  toolCompatibility(check: string, program: string, tool: PgTool | null, server: number | null): void {
    const ok = Boolean(
      tool?.majorVersion && server && toolCompatible(majorVersion(server), tool.majorVersion),
    );
    this.c.add(
      check,
      ok,
      ok
        ? null
        : `PostgreSQL version: ${server ? versionText(server) : 'Unknown'}, ${program} version: ${tool?.fullVersion ?? 'Unknown'}`,
    );
  }
}

// Kept here for the check modules that import it from the context.
export { strerror } from '../../../errors/system.js';
