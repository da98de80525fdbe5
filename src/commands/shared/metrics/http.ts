/**
 * The `/metrics` endpoint a long-running barman-ts serves (the scheduler, when it comes):
 * GET /metrics answers one collection in Prometheus' text format, anything else 404 (405 for
 * another method). Scrapes that arrive while a collection runs share it, so a slow catalogue
 * never piles up collections. Listens on 127.0.0.1 unless told otherwise: the metrics name
 * servers and paths, which not everyone on the network needs to see.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { describeError } from '../../../errors/index.js';
import type { Logger } from '../../../log/index.js';

export interface MetricsEndpointOptions {
  /** Address to listen on (default 127.0.0.1). */
  host?: string;
  /** Port (0: a free one, see `port` of the result). */
  port: number;
  /** One collection as exposition text (e.g. collectMetrics then MetricsExposition.text()). */
  collect: () => Promise<string>;
  log: Logger;
}

export interface MetricsEndpoint {
  host: string;
  port: number;
  close(): Promise<void>;
}

export async function serveMetrics(options: MetricsEndpointOptions): Promise<MetricsEndpoint> {
  let running: Promise<string> | null = null;
  const collectOnce = () => {
    running ??= options.collect().finally(() => {
      running = null;
    });
    return running;
  };
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end();
      return;
    }
    collectOnce().then(
      (text) => {
        response.writeHead(200, { 'content-type': Registry.PROMETHEUS_CONTENT_TYPE });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      (error: unknown) => {
        // The reason, never a stack: Prometheus shows it as the scrape error.
        options.log.error(`metrics collection failed: ${describeError(error)}`);
        response.writeHead(500, { 'content-type': 'text/plain' }).end(`${describeError(error)}\n`);
      },
    );
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    host,
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
