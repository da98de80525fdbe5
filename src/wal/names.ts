/**
 * WAL file names, segment arithmetic and LSNs (spec §2.3), following PostgreSQL's
 * xlog_internal.h for PostgreSQL >= 9.3: a segment name is `%08X%08X%08X` of
 * (timeline, log, segment), with `XLogSegmentsPerXLogId = 0x100000000 / wal_segment_size`
 * segments per log id, so that `segno = lsn / wal_segment_size`,
 * `log = segno / segmentsPerLog` and `segment = segno % segmentsPerLog`.
 *
 * Pure and dependency-free. LSNs and absolute segment numbers are 64-bit, hence bigint.
 * Every function that takes a name accepts hex in either case; every name returned is canonical
 * (upper-case hex, lower-case `.backup`/`.partial`/`.history` suffix).
 */

export const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

export type WalFileKind = 'segment' | 'partial' | 'backup' | 'history';

export interface WalName {
  /** Canonical form of the name. */
  name: string;
  kind: WalFileKind;
  timeline: number;
  /** 0 for history files. */
  log: number;
  /** 0 for history files. */
  segment: number;
  /** .backup only: offset of the backup start in the segment */
  offset?: number;
}

/** Barman's WAL name regex (spec §2.3), matched case-insensitively. */
const WAL_NAME_RE =
  /^([0-9A-F]{8})(?:([0-9A-F]{8})([0-9A-F]{8})(?:\.([0-9A-F]{8})\.(backup)|\.(partial))?|\.(history))$/i;

const LSN_RE = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

const MAX_UINT32 = 0xffffffff;
const MAX_LSN = (1n << 64n) - 1n;
const MIN_SEGMENT_SIZE = 1024 * 1024;
const MAX_SEGMENT_SIZE = 1024 * 1024 * 1024;
/** segmentsBetween refuses to build lists longer than this (a likely mix-up of names or sizes). */
const MAX_SEGMENTS_BETWEEN = 10_000_000;

function hex8(value: number): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}

function checkUint32(what: string, value: number, min = 0): void {
  if (!Number.isInteger(value) || value < min || value > MAX_UINT32) {
    throw new Error(`invalid ${what} ${String(value)}: expected an integer from ${min} to ${MAX_UINT32}`);
  }
}

function checkLsn(lsn: bigint): void {
  if (lsn < 0n || lsn > MAX_LSN) {
    throw new Error(`invalid LSN ${lsn.toString()}: outside the 64-bit range 0/0..FFFFFFFF/FFFFFFFF`);
  }
}

function sizeLabel(segmentSize: number): string {
  return segmentSize >= MAX_SEGMENT_SIZE
    ? `${segmentSize / MAX_SEGMENT_SIZE} GiB`
    : `${segmentSize / MIN_SEGMENT_SIZE} MiB`;
}

/** Parses a WAL file basename; null unless it is a valid segment, .partial, .backup or .history name. */
export function parseWalName(name: string): WalName | null {
  if (typeof name !== 'string') return null;
  const match = WAL_NAME_RE.exec(name);
  if (!match) return null;
  const [, tli, log, seg, offset, backup, partial, history] = match;
  const timeline = parseInt(tli!, 16);
  if (timeline === 0) return null;
  if (history !== undefined) {
    return { name: `${hex8(timeline)}.history`, kind: 'history', timeline, log: 0, segment: 0 };
  }
  const logId = parseInt(log!, 16);
  const segment = parseInt(seg!, 16);
  const base = segmentName(timeline, logId, segment);
  if (backup !== undefined) {
    const off = parseInt(offset!, 16);
    return {
      name: `${base}.${hex8(off)}.backup`,
      kind: 'backup',
      timeline,
      log: logId,
      segment,
      offset: off,
    };
  }
  if (partial !== undefined) {
    return { name: `${base}.partial`, kind: 'partial', timeline, log: logId, segment };
  }
  return { name: base, kind: 'segment', timeline, log: logId, segment };
}

/** True for any name parseWalName accepts. */
export function isWalName(name: string): boolean {
  return parseWalName(name) !== null;
}

/** True only for a plain 24-hex-digit segment name (no .partial/.backup suffix, not .history). */
export function isSegmentName(name: string): boolean {
  return parseWalName(name)?.kind === 'segment';
}

function parseOrThrow(name: string): WalName {
  const parsed = parseWalName(name);
  if (!parsed) throw new Error(`invalid WAL file name ${JSON.stringify(name)}`);
  return parsed;
}

/** Parses a segment, .partial or .backup name: anything that designates a segment. */
function parseSegmentRef(name: string): WalName {
  const parsed = parseOrThrow(name);
  if (parsed.kind === 'history') {
    throw new Error(`${JSON.stringify(name)} is a timeline history file, not a WAL segment`);
  }
  return parsed;
}

function parsePlainSegment(name: string): WalName {
  const parsed = parseOrThrow(name);
  if (parsed.kind !== 'segment') {
    throw new Error(`${JSON.stringify(name)} is not a plain WAL segment name`);
  }
  return parsed;
}

/**
 * The archive subdirectory of a WAL file: the first 16 hex digits (timeline and log) for
 * segments, .partial and .backup files; '' for history files, which live in wals/ itself.
 */
export function hashDir(name: string): string {
  const parsed = parseOrThrow(name);
  return parsed.kind === 'history' ? '' : parsed.name.slice(0, 16);
}

/** `%08X%08X%08X` of (timeline, log, segment). */
export function segmentName(timeline: number, log: number, segment: number): string {
  checkUint32('timeline', timeline, 1);
  checkUint32('log id', log);
  checkUint32('segment id', segment);
  return hex8(timeline) + hex8(log) + hex8(segment);
}

/**
 * Segments per log id (PostgreSQL's XLogSegmentsPerXLogId): 0x100000000 / segmentSize.
 * Throws unless segmentSize is a power of two from 1 MiB to 1 GiB (what initdb allows).
 */
export function segmentsPerLog(segmentSize: number): number {
  if (
    !Number.isInteger(segmentSize) ||
    segmentSize < MIN_SEGMENT_SIZE ||
    segmentSize > MAX_SEGMENT_SIZE ||
    (segmentSize & (segmentSize - 1)) !== 0
  ) {
    throw new Error(
      `invalid WAL segment size ${String(segmentSize)}: expected a power of two from 1 MiB to 1 GiB`,
    );
  }
  return 0x100000000 / segmentSize;
}

/** Parses PostgreSQL's `%X/%X` LSN text (1 to 8 hex digits on each side, either case). */
export function parseLsn(text: string): bigint {
  const match = typeof text === 'string' ? LSN_RE.exec(text) : null;
  if (!match) {
    throw new Error(
      `invalid LSN ${JSON.stringify(text)}: expected two hexadecimal numbers of 1 to 8 digits ` +
        `separated by "/", e.g. 0/3000028`,
    );
  }
  return (BigInt(`0x${match[1]!}`) << 32n) | BigInt(`0x${match[2]!}`);
}

/** Formats an LSN as PostgreSQL does (`%X/%X`: upper-case, no leading zeros). */
export function formatLsn(lsn: bigint): string {
  checkLsn(lsn);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

/**
 * Absolute segment number (PostgreSQL's XLogSegNo) of the segment a segment, .partial or
 * .backup name designates: log * segmentsPerLog + segment. Throws if the segment id does not
 * exist with this segment size (e.g. 00000100 with 16 MiB segments).
 */
export function segmentNumber(name: string, segmentSize: number): bigint {
  const perLog = segmentsPerLog(segmentSize);
  const parsed = parseSegmentRef(name);
  if (parsed.segment >= perLog) {
    throw new Error(
      `invalid WAL segment ${parsed.name.slice(0, 24)} for a ${sizeLabel(segmentSize)} segment size: ` +
        `segment id ${hex8(parsed.segment)} is above ${hex8(perLog - 1)}`,
    );
  }
  return BigInt(parsed.log) * BigInt(perLog) + BigInt(parsed.segment);
}

/** The segment name of absolute segment number `segno` on `timeline` (PostgreSQL's XLogFileName). */
export function segmentNameFromNumber(timeline: number, segno: bigint, segmentSize: number): string {
  const perLog = BigInt(segmentsPerLog(segmentSize));
  const maxSegno = (MAX_LSN + 1n) / BigInt(segmentSize) - 1n;
  if (segno < 0n || segno > maxSegno) {
    throw new Error(
      `invalid WAL segment number ${segno.toString()}: expected 0 to ${maxSegno.toString()} ` +
        `for a ${sizeLabel(segmentSize)} segment size`,
    );
  }
  return segmentName(timeline, Number(segno / perLog), Number(segno % perLog));
}

/** The name of the segment holding the byte at `lsn` (PostgreSQL's XLByteToSeg + XLogFileName). */
export function lsnToSegmentName(lsn: bigint, timeline: number, segmentSize: number): string {
  checkLsn(lsn);
  segmentsPerLog(segmentSize);
  return segmentNameFromNumber(timeline, lsn / BigInt(segmentSize), segmentSize);
}

/** Offset of `lsn` inside its segment (PostgreSQL's XLogSegmentOffset). */
export function lsnSegmentOffset(lsn: bigint, segmentSize: number): number {
  checkLsn(lsn);
  segmentsPerLog(segmentSize);
  return Number(lsn % BigInt(segmentSize));
}

/** LSN of the first byte of the segment a segment, .partial or .backup name designates. */
export function segmentStartLsn(name: string, segmentSize: number): bigint {
  return segmentNumber(name, segmentSize) * BigInt(segmentSize);
}

/** The segment after the one `name` designates, on the same timeline (crosses log ids). */
export function nextSegmentName(name: string, segmentSize: number): string {
  const timeline = parseSegmentRef(name).timeline;
  return segmentNameFromNumber(timeline, segmentNumber(name, segmentSize) + 1n, segmentSize);
}

/** The segment before the one `name` designates, on the same timeline; throws for the very first. */
export function previousSegmentName(name: string, segmentSize: number): string {
  const timeline = parseSegmentRef(name).timeline;
  const segno = segmentNumber(name, segmentSize);
  if (segno === 0n) throw new Error(`no WAL segment precedes ${parseSegmentRef(name).name.slice(0, 24)}`);
  return segmentNameFromNumber(timeline, segno - 1n, segmentSize);
}

/**
 * Every segment name from `begin` to `end` inclusive, on begin's timeline. Only end's position
 * (log and segment) counts, so `end` may name the same position on another timeline; .partial
 * and .backup names stand for their segment. [] when end precedes begin. Throws past
 * 10 million segments, which only a mixed-up name or segment size produces.
 */
export function segmentsBetween(begin: string, end: string, segmentSize: number): string[] {
  const timeline = parseSegmentRef(begin).timeline;
  const first = segmentNumber(begin, segmentSize);
  const last = segmentNumber(end, segmentSize);
  if (last < first) return [];
  const count = last - first + 1n;
  if (count > BigInt(MAX_SEGMENTS_BETWEEN)) {
    throw new Error(
      `refusing to list ${count.toString()} WAL segments from ${begin} to ${end}: ` +
        `more than ${MAX_SEGMENTS_BETWEEN}`,
    );
  }
  const names: string[] = [];
  for (let segno = first; segno <= last; segno++) {
    names.push(segmentNameFromNumber(timeline, segno, segmentSize));
  }
  return names;
}

/**
 * Archive order of WAL file names. A plain string comparison of canonical names suffices: all
 * fields are fixed-width upper-case hex with the timeline first, so it orders by (timeline, log,
 * segment) numerically; a .backup/.partial file sorts right after its segment (a longer string
 * with the segment as prefix); `TTTTTTTT.history` sorts after every segment of earlier timelines
 * and before the first segment of timeline TTTTTTTT ('.' is below every hex digit). Names that
 * are not WAL names are compared as they are.
 */
export function compareWalNames(a: string, b: string): number {
  const keyA = parseWalName(a)?.name ?? a;
  const keyB = parseWalName(b)?.name ?? b;
  return keyA < keyB ? -1 : keyA > keyB ? 1 : 0;
}

/** `<segment>.<%08X offset>.backup`: the backup history file of a backup starting at `offset`. */
export function backupLabelFileName(segment: string, offset: number): string {
  const base = parsePlainSegment(segment).name;
  checkUint32('backup offset', offset);
  return `${base}.${hex8(offset)}.backup`;
}

/** `%08X.history`. */
export function historyFileName(timeline: number): string {
  checkUint32('timeline', timeline, 1);
  return `${hex8(timeline)}.history`;
}

/** `<segment>.partial`. */
export function partialFileName(segment: string): string {
  return `${parsePlainSegment(segment).name}.partial`;
}
