/**
 * The one tar header writer: ustar headers, with a PAX extended header ('x') first when a name
 * does not fit in 100 bytes or a size in 11 octal digits (8 GiB). Used for the archives
 * barman-wal-archive sends to put-wal (a WAL file and its SHA256SUMS) and for the backup
 * archives of local-to-cloud (barman-cloud-backup's layout).
 */

export const TAR_BLOCK = 512;
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

/** What a member header records besides its name, type and size. */
export interface TarMemberInfo {
  /** Permission bits (file type bits are ignored). */
  mode: number;
  /** Seconds since the epoch; the header keeps whole seconds. */
  mtimeSeconds: number;
  uid?: number;
  gid?: number;
  /** The target of a symbolic link (type '2'). */
  linkname?: string;
}

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, '0')}\0`;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length += 1;
  return `${length}${body}`;
}

function ustarHeader(name: string, type: '0' | '2' | '5' | 'x', size: number, info: TarMemberInfo): Buffer {
  const block = Buffer.alloc(TAR_BLOCK, 0);
  block.write(name, 0, 100, 'utf8');
  block.write(octal(info.mode & 0o7777, 8), 100, 8, 'ascii');
  block.write(octal((info.uid ?? 0) & 0o7777777, 8), 108, 8, 'ascii');
  block.write(octal((info.gid ?? 0) & 0o7777777, 8), 116, 8, 'ascii');
  block.write(octal(size, 12), 124, 12, 'ascii');
  block.write(octal(Math.max(0, Math.floor(info.mtimeSeconds)), 12), 136, 12, 'ascii');
  block.write('        ', 148, 8, 'ascii');
  block.write(type, 156, 1, 'ascii');
  if (info.linkname) block.write(info.linkname, 157, 100, 'utf8');
  block.write('ustar\0', 257, 6, 'ascii');
  block.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'ascii');
  return block;
}

/** Zero bytes after a body of `size` bytes, up to the next block. */
export function tarPaddingLength(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}

export function tarPadding(size: number): Buffer {
  return Buffer.alloc(tarPaddingLength(size), 0);
}

/**
 * The header blocks of one member: a regular file ('0'), a directory ('5', name ending in '/')
 * or a symbolic link ('2', its target in `info.linkname`).
 */
export function tarMemberHeader(
  name: string,
  type: '0' | '2' | '5',
  size: number,
  info: TarMemberInfo,
): Buffer {
  const records: string[] = [];
  let shortName = name;
  let linkname = info.linkname;
  if (linkname && Buffer.byteLength(linkname) > 100) {
    records.push(paxRecord('linkpath', linkname));
    linkname = Buffer.from(linkname)
      .subarray(0, 100)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '_');
  }
  if (Buffer.byteLength(name) > 100) {
    records.push(paxRecord('path', name));
    shortName = Buffer.from(name)
      .subarray(0, 100)
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, '_');
  }
  let headerSize = size;
  if (size > MAX_OCTAL_SIZE) {
    records.push(paxRecord('size', String(size)));
    headerSize = 0;
  }
  const main = ustarHeader(shortName, type, headerSize, { ...info, linkname });
  if (records.length === 0) return main;
  const body = Buffer.from(records.join(''));
  return Buffer.concat([
    ustarHeader('././@PaxHeader', 'x', body.length, { ...info, mode: 0o644, linkname: undefined }),
    body,
    tarPadding(body.length),
    main,
  ]);
}

/** End-of-archive marker: two zero blocks. */
export const TAR_END = Buffer.alloc(TAR_BLOCK * 2, 0);
