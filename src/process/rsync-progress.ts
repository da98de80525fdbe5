/**
 * rsync's progress output, read by backups (rsync executor) and recoveries (rsync to a remote
 * destination) alike: whether the installed rsync can report it, the flags that ask for it, and
 * the meter that follows one rsync process.
 */
import { programVersion } from './index.js';

/** `rsync  version 3.2.7  protocol version 31`: --info=progress2 exists since 3.1.0. */
export async function rsyncReportsProgress(program: string): Promise<boolean> {
  const match = /version (\d+)\.(\d+)/.exec((await programVersion(program)) ?? '');
  return match !== null && (Number(match[1]) > 3 || (Number(match[1]) === 3 && Number(match[2]) >= 1));
}

/** rsync flags for RsyncMeter: one `%i %l %n` line per file (-ii: unchanged ones too), running byte counts. */
export const RSYNC_PROGRESS_FLAGS = ['-ii', '--out-format=%i %l %n', '--info=progress2'];

/**
 * Follows one rsync process's progress: bytes it streamed (progress2's running total, which
 * counts only transferred files) plus the sizes of the files it reused from the previous backup
 * or found unchanged (their item lines), and the number of files handled.
 */
export class RsyncMeter {
  streamedBytes = 0;
  reusedBytes = 0;
  files = 0;
  /** The file being received: rsync names a file when it starts it, so it is done at the next one. */
  private receiving: string | null = null;

  constructor(
    private readonly onChange: () => void,
    /** A received file is complete (path relative to the destination). */
    private readonly onReceived: (path: string) => void = () => {},
  ) {}

  /** A new attempt starts from nothing. */
  reset(): void {
    this.streamedBytes = 0;
    this.reusedBytes = 0;
    this.files = 0;
    this.receiving = null;
    this.onChange();
  }

  /** Consumes progress lines (false: not kept in rsync's output); anything else is kept. */
  readonly consume = (line: string): boolean => {
    // `>f+++++++++ 8192 base/1/1259`, `hf          8192 PG_VERSION` (hard-linked), `cd          4096 base/`
    const item = /^([<>ch.*])([fdLDS])\S*\s+(\d+) (.*)$/.exec(line);
    if (item) {
      if (item[2] === 'f') {
        this.files += 1;
        if (this.receiving !== null) this.onReceived(this.receiving);
        this.receiving = item[1] === '>' ? item[4]! : null;
        // Transferred files are counted by progress2 as they stream; the others are done at once.
        if (item[1] !== '>') this.reusedBytes += Number(item[3]);
        this.onChange();
      }
      return false;
    }
    // `     10,584,078  16%    9.50MB/s    0:00:05 (xfr#2, to-chk=6/8)` (digit grouping per locale)
    const meter = /^\s*(\d[\d,.']*)\s+\d+%/.exec(line);
    if (meter) {
      this.streamedBytes = Number(meter[1]!.replace(/\D/g, ''));
      this.onChange();
      return false;
    }
    return line.trim() !== '';
  };
}
