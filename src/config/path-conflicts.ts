/**
 * Directories servers must not share (Barman's "Conflicting path"). Two servers whose catalogue
 * directories meet would list each other's backups, and one's archive-wal or retention would
 * move or delete the other's WAL files; a server whose own directories coincide mixes WAL files
 * with backups. Paths are compared physically (`..`, trailing slashes and symbolic links
 * resolved); s3:// locations by bucket and prefix (the endpoint is not compared: two names for
 * one store are common, and a false alarm costs less than a shared archive). A
 * cloud_staging_directory may be shared by servers but must not be, or be inside, a catalogue
 * directory, where its staged upload parts would be taken for WAL files or backups.
 */
import { isSameOrInside, physicalPath } from '../util/paths.js';
import type { ConfigProblem } from './problems.js';
import type { ServerEntry } from './types.js';
import type { Location } from './value-kinds.js';

export const DIRECTORY_OPTIONS = [
  'backup_directory',
  'basebackups_directory',
  'wals_directory',
  'incoming_wals_directory',
  'streaming_wals_directory',
  'errors_directory',
] as const;

type DirectoryOption = (typeof DIRECTORY_OPTIONS)[number];

interface Place {
  server: ServerEntry;
  option: DirectoryOption | 'cloud_staging_directory';
  /** As configured (an s3:// URL normalised). */
  written: string;
  /** What is compared: the physical path, or `s3://bucket/prefix`. */
  compared: string;
}

/** Problems to add, by server name (every server involved in a conflict gets its own). */
export function findPathConflicts(servers: Iterable<ServerEntry>): Map<string, ConfigProblem[]> {
  const entries = [...servers];
  const places = entries.flatMap((server) => placesOf(server));
  const found = new Map<string, ConfigProblem[]>();
  const add = (place: Place, message: string) => {
    const list = found.get(place.server.name) ?? [];
    list.push({ severity: 'error', message, ...locate(place) });
    found.set(place.server.name, list);
  };
  for (const [index, a] of places.entries()) {
    for (const b of places.slice(index + 1)) {
      if (a.server === b.server) {
        // One server's directories nest by default; only the same directory twice is wrong.
        if (a.compared === b.compared) {
          add(b, `Conflicting path: ${shown(b)} conflicts with '${a.option}' for server '${b.server.name}'`);
        }
        continue;
      }
      if (a.compared === b.compared) {
        add(a, `${conflict(a)} conflicts with '${b.option}' for server '${b.server.name}'`);
        add(b, `${conflict(b)} conflicts with '${a.option}' for server '${a.server.name}'`);
        continue;
      }
      // A backup_directory only holds its server's other directories: another server may live
      // beside them (their overlaps, if any, are found on their own).
      const [inner, outer] = isSameOrInside(a.compared, b.compared)
        ? [a, b]
        : isSameOrInside(b.compared, a.compared)
          ? [b, a]
          : [null, null];
      if (!inner || !outer || outer.option === 'backup_directory') continue;
      add(
        inner,
        `${conflict(inner)} is inside '${outer.option}' (${outer.written}) of server '${outer.server.name}'`,
      );
      add(
        outer,
        `${conflict(outer)} contains '${inner.option}' (${inner.written}) of server '${inner.server.name}'`,
      );
    }
  }
  for (const staging of entries.flatMap((server) => stagingPlaceOf(server))) {
    for (const place of places) {
      // Several servers may share a staging directory (file names carry the pid); a
      // backup_directory only contains the other directories.
      if (place.option === 'backup_directory' || place.compared.startsWith('s3://')) continue;
      if (!isSameOrInside(staging.compared, place.compared)) continue;
      const what = staging.compared === place.compared ? 'is' : 'is inside';
      add(
        staging,
        `${conflict(staging)} ${what} '${place.option}' (${place.written}) of server '${place.server.name}': its staged upload parts would be taken for catalogue files`,
      );
      if (place.server !== staging.server)
        add(
          place,
          `${conflict(place)} holds 'cloud_staging_directory' (${staging.written}) of server '${staging.server.name}'`,
        );
    }
  }
  return found;
}

/** The entry with more problems; any error disables it. */
export function withProblems(entry: ServerEntry, problems: readonly ConfigProblem[]): ServerEntry {
  const all = [...entry.problems, ...problems];
  return Object.freeze({
    ...entry,
    disabled: all.some((problem) => problem.severity === 'error'),
    problems: Object.freeze(all),
  });
}

/** Staging directories are compared with the catalogue's directories, not with each other. */
/** None when the server has no staging directory (its default follows a backup_directory that was refused). */
function stagingPlaceOf(server: ServerEntry): Place[] {
  const written = server.config.cloud_staging_directory as string | null;
  if (written === null) return [];
  return [{ server, option: 'cloud_staging_directory', written, compared: physicalPath(written) }];
}

function placesOf(server: ServerEntry): Place[] {
  return DIRECTORY_OPTIONS.flatMap((option): Place[] => {
    const value = server.config[option] as string | Location | null;
    if (value === null) return [];
    if (typeof value === 'string' || value.kind === 'posix') {
      const written = typeof value === 'string' ? value : value.path;
      return [{ server, option, written, compared: physicalPath(written) }];
    }
    const compared = `s3://${value.bucket}${value.prefix ? `/${value.prefix}` : ''}`;
    return [{ server, option, written: value.url, compared }];
  });
}

function conflict(place: Place): string {
  return `Conflicting path: ${shown(place)} for server '${place.server.name}'`;
}

/** `option=path`, and where it really leads when a link, `.` or `..` is on the way (Barman's wording). */
function shown(place: Place): string {
  const tidy = place.written.replace(/\/{2,}/g, '/');
  const real =
    place.written.startsWith('s3://') || place.compared === tidy ? '' : ` (symlink to: ${place.compared})`;
  return `${place.option}=${place.written}${real}`;
}

function locate(place: Place): Omit<ConfigProblem, 'severity' | 'message'> {
  const source = place.server.sources[place.option];
  if (source?.kind === 'file') {
    return { file: source.file, line: source.line, section: source.section, option: place.option };
  }
  return { section: place.server.name, option: place.option };
}
