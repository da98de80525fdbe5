/**
 * A fault-injecting TCP proxy for tests: forwards bytes between clients and a server on
 * 127.0.0.1 (s3rver) and, on command, cuts every connection, refuses new ones (the port is
 * closed: ECONNREFUSED), swallows traffic without answering (a black hole), or resets any
 * connection once one request has sent more than N bytes. Real network faults on real sockets:
 * the client under test sees resets, refusals and silence exactly as from a broken network.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { registerExitCleanup } from './tmp.js';

export type FaultMode = 'pass' | 'down' | 'stall';

export interface FaultProxyStats {
  /** Connections accepted since the start. */
  connections: number;
  /** Connections the proxy cut (reset) on purpose. */
  cuts: number;
  /** Bytes forwarded from clients to the server. */
  bytesUp: number;
}

export interface FaultProxy {
  readonly port: number;
  readonly endpoint: string;
  readonly mode: FaultMode;
  readonly stats: FaultProxyStats;
  /** Forward everything again (connections that were stalled are cut: their requests are lost). */
  pass(): Promise<void>;
  /** Server unreachable: open connections are reset and the port refuses new ones. */
  down(): Promise<void>;
  /** Black hole: connections are accepted, nothing is forwarded or answered, open ones freeze. */
  stall(): void;
  /** Resets every open connection now; new ones are served as the mode says. */
  cutAll(): void;
  /**
   * Resets a connection as soon as one request (the bytes a client sends between two answers)
   * passes `bytes`, `times` times (default: every time), then forwards normally again.
   */
  cutRequestsAfter(bytes: number, times?: number): void;
  /** Like cutRequestsAfter, but the connection freezes instead: read and dropped, never answered. */
  stallRequestsAfter(bytes: number, times?: number): void;
  stop(): Promise<void>;
}

interface Pair {
  client: Socket;
  /** null for a connection accepted in a black hole. */
  upstream: Socket | null;
  /** Client bytes since the server last answered: the request being sent. */
  requestBytes: number;
  frozen: boolean;
}

export async function startFaultProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<FaultProxy> {
  const pairs = new Set<Pair>();
  const stats: FaultProxyStats = { connections: 0, cuts: 0, bytesUp: 0 };
  let mode: FaultMode = 'pass';
  let cutAfter: { bytes: number; remaining: number; action: 'reset' | 'freeze' } | null = null;
  let server: Server | null = null;
  let port = 0;

  const cut = (pair: Pair): void => {
    if (!pairs.delete(pair)) return;
    stats.cuts += 1;
    // A reset, not a FIN: the client sees ECONNRESET mid-request, as from a dropped link.
    pair.client.resetAndDestroy();
    pair.upstream?.destroy();
  };

  const accept = (client: Socket): void => {
    stats.connections += 1;
    client.on('error', () => {});
    if (mode === 'stall') {
      // Read and drop, never answer.
      client.on('data', () => {});
      const pair: Pair = { client, upstream: null, requestBytes: 0, frozen: true };
      pairs.add(pair);
      client.on('close', () => pairs.delete(pair));
      return;
    }
    const upstream = createConnection({ port: targetPort, host: targetHost });
    const pair: Pair = { client, upstream, requestBytes: 0, frozen: false };
    pairs.add(pair);
    upstream.on('error', () => client.destroy());
    const forget = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', forget);
    upstream.on('close', forget);
    client.on('data', (chunk: Buffer) => {
      if (!pairs.has(pair) || pair.frozen || mode === 'stall') return;
      pair.requestBytes += chunk.length;
      if (cutAfter && pair.requestBytes > cutAfter.bytes) {
        const action = cutAfter.action;
        cutAfter.remaining -= 1;
        if (cutAfter.remaining <= 0) cutAfter = null;
        if (action === 'reset') cut(pair);
        else pair.frozen = true;
        return;
      }
      stats.bytesUp += chunk.length;
      if (!upstream.write(chunk)) client.pause();
    });
    upstream.on('drain', () => client.resume());
    upstream.on('data', (chunk: Buffer) => {
      if (!pairs.has(pair) || pair.frozen || mode === 'stall') return;
      pair.requestBytes = 0;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
  };

  const listen = (onPort: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const next = createServer(accept);
      next.once('error', reject);
      next.listen(onPort, '127.0.0.1', () => {
        server = next;
        port = (next.address() as { port: number }).port;
        resolve();
      });
    });
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      const current = server;
      server = null;
      if (!current) return resolve();
      current.close(() => resolve());
    });
  const cutAll = (): void => {
    for (const pair of [...pairs]) cut(pair);
  };

  await listen(0);
  const unregister = registerExitCleanup(() => {
    for (const pair of pairs) pair.client.destroy();
    server?.close();
  });

  return {
    get port() {
      return port;
    },
    get endpoint() {
      return `http://127.0.0.1:${port}`;
    },
    get mode() {
      return mode;
    },
    stats,
    async pass() {
      // Frozen connections have lost their requests: reset them, as a middlebox would at last.
      for (const pair of [...pairs]) if (pair.frozen || mode === 'stall') cut(pair);
      mode = 'pass';
      cutAfter = null;
      if (!server) await listen(port);
    },
    async down() {
      mode = 'down';
      await Promise.all([close(), Promise.resolve(cutAll())]);
    },
    stall() {
      mode = 'stall';
    },
    cutAll,
    cutRequestsAfter(bytes, times = Infinity) {
      cutAfter = { bytes, remaining: times, action: 'reset' };
    },
    stallRequestsAfter(bytes, times = Infinity) {
      cutAfter = { bytes, remaining: times, action: 'freeze' };
    },
    async stop() {
      cutAll();
      await close();
      unregister();
    },
  };
}
