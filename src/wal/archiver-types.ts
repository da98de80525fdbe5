/** The archiver's environment and results (archiver.ts), shared by its parts. */
import type { ServerConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import type { Reporter } from '../output/reporter.js';
import type { StagedFile } from '../storage/index.js';
import type { CompressionPool } from '../transfer/compression/index.js';
import type { WalArchive } from './archive.js';
import type { WalName } from './names.js';
import type { CloudCompression } from './cloud-layout.js';
import type { XlogDbEntry } from './xlogdb.js';

export type WalSource = 'streaming' | 'incoming';

export interface ArchiverEnvironment {
  config: ServerConfig;
  /**
   * The server's WAL archive: Barman's layout in a directory (the posix fast path: hard link or
   * compressed temp file, batched renames, xlog.db) or barman-cloud's in object storage.
   */
  archive: WalArchive;
  paths: {
    /** The archive's directory (Barman's layout) or its URL (messages only). */
    walsDirectory: string;
    incomingDirectory: string;
    streamingDirectory: string;
    errorsDirectory: string;
  };
  /** The sources to archive from; both enabled ones when absent. */
  sources?: readonly WalSource[];
  report: Reporter;
  log: Logger;
  pool: CompressionPool;
  /** System identifier the archive belongs to (identity.json), or null when not yet known. */
  systemIdentifier: string | null;
  /** Called with the first verified header when the identity was unknown. */
  onIdentityLearned(systemid: string, majorVersion: string | null): Promise<void>;
  /**
   * Names known to be in xlog.db (read at the start; the archiver adds the lines it appends), so
   * that a file already archived — a retry, the same segment from streaming/ and incoming/, a run
   * killed before its xlog.db append — gets a line only when it has none. Empty for an object
   * archive, whose listing is its index.
   */
  catalogued: Set<string>;
  /**
   * Under the xlogdb lock: runs `publish` (the renames into wals/), then appends durably the lines
   * of `lines.published` and those of `lines.ifMissing` that xlog.db does not hold at that moment
   * (another process, rebuild-xlogdb, may have added them since `catalogued` was read). Holding
   * the lock across both keeps rebuild-xlogdb from cataloguing a file twice. An object archive
   * has no xlog.db: `publish` only.
   */
  commitToCatalogue(
    lines: { published: readonly XlogDbEntry[]; ifMissing: readonly XlogDbEntry[] },
    publish: () => Promise<void>,
  ): Promise<void>;
  /** pre/post_archive hook scripts; absent when none is configured (files are then archived in chunks). */
  hooks?: ArchiveHooks;
}

export interface ArchiveOutcome {
  archived: string[];
  /** Identical copies already archived: the source was dropped. */
  duplicates: string[];
  rejected: Array<{ name: string; reason: string; movedTo: string }>;
  /** A pre_archive_retry_script stopped the batch (exit 63) at this file: it and the rest stay in place. */
  aborted?: { name: string; reason: string };
}

/** A WAL file as the archive hook scripts see it (BARMAN_SEGMENT, BARMAN_FILE, ...). */
export interface ArchiveHookFile {
  segment: string;
  /** pre: the source in incoming/ or streaming/; post: the destination in the archive. */
  path: string;
  size: number;
  /** mtime, in seconds since the epoch. */
  mtime: number;
  compression: string | null;
}

/** The pre/post_archive hook points; src/hooks implements them (wal must not import hooks). */
export interface ArchiveHooks {
  /** Before a file is archived: resolves with the reason to stop the batch, or null to go on. */
  before(file: ArchiveHookFile): Promise<string | null>;
  /** After a file was archived (`error` null) or was not (`error` says why). */
  after(file: ArchiveHookFile, error: string | null): Promise<void>;
}

/** A WAL file waiting in incoming/ or streaming/. */
export interface Candidate {
  /** The WAL file's name (its file may be `<name><ext>.gpg`: `sealed`). */
  name: string;
  wal: WalName;
  path: string;
  source: WalSource;
  /** Sealed by put-wal (`encryption = gpg`): compressed as its name says, then encrypted; stored as it is. */
  sealed?: { compression: CloudCompression | null };
}

/** A file ready to be published: stored (object archive) or staged (directory). */
export interface Prepared {
  candidate: Candidate;
  kind: 'new' | 'duplicate';
  /** Staged beside its destination, for the commit to publish (new files of a directory archive only). */
  staged: StagedFile | null;
  entry: XlogDbEntry;
}
