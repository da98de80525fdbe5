/**
 * metrics: one collection of every named server (all by default) in Prometheus' text
 * exposition format, for node_exporter's textfile collector or any scraper; `-f json` gives the
 * same metrics as prom-client's JSON objects. Inactive and disabled servers are included (their
 * state is a metric), so nothing is printed to stdout but the metrics. A catalogue that cannot
 * be read is a metric and a warning, not a failed run: the other servers' metrics still go out.
 */
import { catalogueAreas } from '../../recovery/protected-paths.js';
import { defineCommandModule } from '../definition.js';
import { collectMetrics } from '../shared/metrics/collect.js';
import { MetricsExposition } from '../shared/metrics/exposition.js';
import { runServerChecks } from '../shared/checks/server-checks.js';
import { selectServers } from '../shared/select-servers.js';

interface Result {
  text: string;
  json: unknown[] | null;
}

export default defineCommandModule<Result>({
  async run(ctx, input) {
    const names = (input.args.server_name as string[] | undefined) ?? [];
    const selected = selectServers(ctx, names.length === 0 ? ['all'] : names, {
      allowAll: true,
      includeInactive: true,
      includeDisabled: true,
    }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const withChecks = input.options.checks === true;
    const snapshot = await collectMetrics(selected, {
      report: ctx.report,
      log: ctx.log,
      postgresTimeoutSeconds:
        input.options.postgres === false ? null : (input.options.postgresTimeout as number),
      ...(withChecks
        ? {
            checkResults: async (entry) =>
              (
                await runServerChecks(entry, {
                  log: ctx.log,
                  report: ctx.report,
                  timeoutSeconds: entry.config.check_timeout,
                  catalogueAreas: catalogueAreas(ctx.config),
                })
              ).results,
          }
        : {}),
    });
    const exposition = new MetricsExposition(snapshot, ctx.version);
    return ctx.format === 'json'
      ? { text: '', json: await exposition.json() }
      : { text: await exposition.text(), json: null };
  },

  renderConsole({ text }) {
    return text.length === 0 ? [] : [text.replace(/\n$/, '')];
  },

  renderJson({ json }) {
    return { metrics: json ?? [] };
  },
});
