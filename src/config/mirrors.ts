/**
 * Rules of `mirror_of` across the servers of one barman.conf: a mirror names another server of
 * the file (not itself), whose catalogue it copies into a location of its own. A mirror that
 * shared its source's basebackups_directory or wals_directory would copy files onto themselves
 * and then apply its own retention policy to the source's backups.
 */
import { physicalPath } from '../util/paths.js';
import type { ConfigProblem } from './problems.js';
import type { ServerEntry } from './types.js';
import type { Location } from './value-kinds.js';

/** Problems to add, by mirror server name. */
export function findMirrorProblems(servers: ReadonlyMap<string, ServerEntry>): Map<string, ConfigProblem[]> {
  const found = new Map<string, ConfigProblem[]>();
  for (const mirror of servers.values()) {
    const sourceName = mirror.config.mirror_of;
    if (sourceName === null) continue;
    const where = locate(mirror);
    const problems: ConfigProblem[] = [];
    const error = (message: string) => problems.push({ severity: 'error', message, ...where });
    const source = servers.get(sourceName);
    if (sourceName === mirror.name) {
      error(
        `server '${mirror.name}' cannot be a mirror of itself: name the server whose catalogue it copies`,
      );
    } else if (!source) {
      const known = [...servers.keys()].filter((name) => name !== mirror.name);
      error(
        `unknown server '${sourceName}': a mirror copies another server section of this configuration` +
          (known.length > 0 ? ` (${known.join(', ')})` : ''),
      );
    } else {
      for (const option of ['basebackups_directory', 'wals_directory'] as const) {
        const mine = comparable(mirror.config[option]);
        const theirs = comparable(source.config[option]);
        if (mine === theirs)
          error(
            `'${option}' (${mine}) is also the ${option} of '${sourceName}': a mirror needs a location of its own`,
          );
      }
    }
    if (problems.length > 0) found.set(mirror.name, problems);
  }
  return found;
}

function comparable(location: Location): string {
  return location.kind === 'posix'
    ? physicalPath(location.path)
    : `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ''}`;
}

function locate(entry: ServerEntry): Omit<ConfigProblem, 'severity' | 'message'> {
  const source = entry.sources.mirror_of;
  return {
    section: entry.name,
    option: 'mirror_of',
    ...(source?.kind === 'file' || source?.kind === 'model' ? { file: source.file, line: source.line } : {}),
  };
}
