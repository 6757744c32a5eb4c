import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpServer {
  readonly address: { host: string; port: number };
  readonly url: string;
  close(): Promise<void>;
}

export interface HttpHandlers {
  metrics(): Promise<{ contentType: string; body: string }>;
  health(): unknown;
}

/**
 * Serves GET /metrics (Prometheus text format) and GET /healthz (JSON: what is up, what is
 * degraded; 200 while the daemon runs, the body says whether it is degraded). Nothing else.
 */
export function startHttpServer(listen: { host: string; port: number }, h: HttpHandlers): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      h.metrics().then(
        ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(req.method === 'HEAD' ? undefined : body),
        (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
      );
    } else if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(h.health())}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('oomwatch serves /metrics and /healthz\n');
    }
  });
  server.keepAliveTimeout = 65_000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      const a = server.address() as AddressInfo;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({
        address: { host: a.address, port: a.port },
        url: `http://${host}:${a.port}`,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            server.closeAllConnections();
          }),
      });
    });
  });
}
