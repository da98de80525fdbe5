/**
 * Progress of one copy (a tree, or a whole pg_basebackup run) for the reporter, which decides how
 * often to show it. Reporting must never fail or slow a backup: reporter errors are swallowed.
 */
import type { Reporter } from '../output/reporter.js';

export interface ProgressCounts {
  bytes: number;
  /** Absent when the copier does not count files (pg_basebackup). */
  files?: number;
}

export class CopyProgress {
  private done: ProgressCounts = { bytes: 0 };
  private total: ProgressCounts = { bytes: 0 };
  private started = false;
  private finished = false;

  /** With `total`, the copy starts now (the rate is measured from the first update). */
  constructor(
    private readonly report: Reporter,
    readonly label: string,
    total?: ProgressCounts,
  ) {
    if (total) this.update({ bytes: 0, ...(total.files === undefined ? {} : { files: 0 }) }, total);
  }

  /** New running totals (and the total, when the copier revises its estimate). */
  update(done: ProgressCounts, total: ProgressCounts = this.total): void {
    if (this.finished) return;
    if (!this.started && done.bytes > 0) {
      // The copier's first report comes after some work: the copy still starts at zero.
      this.update({ bytes: 0, ...(done.files === undefined ? {} : { files: 0 }) }, total);
    }
    this.started = true;
    this.done = done;
    this.total = total;
    this.send(false);
  }

  /** The last update: what was copied, as last reported. Only the first call counts. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.send(true);
  }

  private send(final: boolean): void {
    try {
      this.report.progress?.({
        label: this.label,
        bytesDone: this.done.bytes,
        bytesTotal: this.total.bytes,
        ...(this.done.files !== undefined && this.total.files !== undefined
          ? { filesDone: this.done.files, filesTotal: this.total.files }
          : {}),
        final,
      });
    } catch {
      // Progress is for the operator's eyes only.
    }
  }
}

/** `PGDATA`, or `tablespace <name>`: what a copied tree is called in progress lines. */
export function treeLabel(tablespace: { name: string } | null): string {
  return tablespace ? `tablespace ${tablespace.name}` : 'PGDATA';
}
