import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { OomwatchError, isErrno } from '../errors.js';

export interface HttpServer {
  readonly address: { host: string; port: number };
  readonly url: string;
  /** Answer with these from now on (until then, 503 with a body that says the daemon is starting). */
  serve(handlers: HttpHandlers): void;
  close(): Promise<void>;
}

export interface HttpHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  health(): unknown;
}

/** The address is taken or not ours: the daemon cannot serve, so it does not start. */
export class ListenError extends OomwatchError {
  constructor(listen: { host: string; port: number }, err: unknown) {
    const where = `${listen.host}:${listen.port}`;
    const why = isErrno(err, 'EADDRINUSE')
      ? 'the address is in use (another oomwatch daemon, or another server)'
      : isErrno(err, 'EADDRNOTAVAIL')
        ? 'no interface of this host has that address'
        : isErrno(err, 'EACCES')
          ? 'permission denied (a port below 1024 needs root)'
          : err instanceof Error
            ? err.message
            : String(err);
    super('EBUSY', `cannot listen on ${where}: ${why}; stop what holds it or choose another address with --listen (or listen: in the config)`, { cause: err });
  }
}

/**
 * Binds the listener and serves GET /metrics (Prometheus text format) and GET /healthz (JSON:
 * what is up, what is degraded; 200 while the daemon runs, the body says whether it is degraded).
 * Nothing else. Rejects with ListenError when the address cannot be bound.
 */
export function listenHttp(listen: { host: string; port: number }): Promise<HttpServer> {
  let h: HttpHandlers | null = null;
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics' && path !== '/healthz') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('oomwatch serves /metrics and /healthz\n');
    } else if (h === null) {
      res.writeHead(503, { 'content-type': 'text/plain', 'retry-after': '1' }).end('oomwatch is starting: not serving yet\n');
    } else if (path === '/metrics') {
      h.metrics().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
      );
    } else {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(h.health())}\n`);
    }
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) => reject(new ListenError(listen, err));
    server.once('error', fail);
    server.listen(listen.port, listen.host, () => {
      server.off('error', fail);
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        address: { host: a.address, port: a.port },
        url: `http://${host}:${a.port}`,
        serve: (handlers) => {
          h = handlers;
        },
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
