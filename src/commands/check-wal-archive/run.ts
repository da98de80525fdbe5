/**
 * check-wal-archive: before a new or promoted server archives into this server's WAL archive,
 * make sure nothing there would clash — an empty archive, or with `--timeline N` nothing of
 * timeline N or later (history files count by their timeline). The archive's index is read
 * (xlog.db, or the object listing of an s3:// archive), as Barman reads xlog.db.
 */
import { catalogLayout } from '../../catalog/layout.js';
import { parseWalName } from '../../wal/names.js';
import { readWalIndex } from '../../wal/wal-index.js';
import { defineCommandModule } from '../definition.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  server: string;
  passed: boolean;
}

/** Why the archive cannot take a new server's WAL, or null when it can. */
export function archiveClash(names: readonly string[], timeline: number | undefined): string | null {
  if (timeline === undefined) return names.length > 0 ? 'Expected empty archive' : null;
  let clashing = 0;
  for (const name of names) {
    const parsed = parseWalName(name);
    if (!parsed) return `Unexpected file ${name} found in WAL archive`;
    if (parsed.timeline >= timeline) clashing += 1;
  }
  return clashing > 0
    ? `Found ${clashing} file${clashing > 1 ? 's' : ''} in WAL archive equal to or newer than timeline ${timeline}`
    : null;
}

export default defineCommandModule<Result | null>({
  async run(ctx, input) {
    const [server] = selectServers(ctx, [input.args.server_name as string], {
      allowAll: false,
      includeInactive: true,
      includeDisabled: false,
    });
    if (!server) return null;
    const index = await readWalIndex(server.config, await catalogLayout(server.config));
    const clash = archiveClash(
      index.entries.map((entry) => entry.name),
      input.options.timeline as number | undefined,
    );
    if (clash !== null) ctx.report.error(`WAL archive check failed for server ${server.name}: ${clash}`);
    return { server: server.name, passed: clash === null };
  },
  renderConsole: (result) =>
    result
      ? [
          `Server ${result.server}:`,
          ...(result.passed ? [` - WAL archive check for server ${result.server} passed`] : []),
        ]
      : [],
  renderJson: (result) =>
    result?.passed
      ? { [result.server]: `WAL archive check for server ${result.server} passed` }
      : result
        ? { [result.server]: {} }
        : null,
});
