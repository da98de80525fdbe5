/**
 * check: every server named (inactive and disabled ones included, in name order) goes through
 * Barman's checks; the console lists each result, `--nagios` prints a Nagios plugin report, and
 * the exit code is 1 when an active server fails a check (2 for Nagios CRITICAL).
 */
import { catalogueAreas } from '../../recovery/protected-paths.js';
import { defineCommandModule } from '../definition.js';
import type { ServerCheckReport } from '../shared/checks/server-checks.js';
import { runServerChecks } from '../shared/checks/server-checks.js';
import { selectServers } from '../shared/select-servers.js';
import { hasActiveFailure, renderCheckConsole, renderCheckJson, renderNagios } from './render.js';

interface Result {
  nagios: boolean;
  servers: ServerCheckReport[];
  /** Errors reported outside the checks (unknown server...), for the Nagios verdict. */
  otherErrors: boolean;
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const nagios = input.options.nagios === true;
    const selected = selectServers(ctx, input.args.server_name as string[], {
      allowAll: true,
      includeInactive: true,
      includeDisabled: true,
    }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const override = input.overrides.check_timeout as number | undefined;
    const servers: ServerCheckReport[] = [];
    for (const server of selected) {
      servers.push(
        await runServerChecks(server, {
          log: ctx.log,
          report: ctx.report,
          timeoutSeconds: override ?? server.config.check_timeout,
          catalogueAreas: catalogueAreas(ctx.config),
        }),
      );
    }
    return { nagios, servers, otherErrors: ctx.report.errorCount > 0 };
  },

  renderConsole({ nagios, servers, otherErrors }, style) {
    if (nagios) return renderNagios(servers, otherErrors).lines;
    return renderCheckConsole(servers, style.color);
  },

  renderJson({ nagios, servers, otherErrors }) {
    if (nagios) return { nagios: renderNagios(servers, otherErrors).lines };
    return renderCheckJson(servers);
  },

  exitCode({ nagios, servers, otherErrors }) {
    if (nagios) return renderNagios(servers, otherErrors).exitCode;
    return hasActiveFailure(servers) ? 1 : 0;
  },
});
