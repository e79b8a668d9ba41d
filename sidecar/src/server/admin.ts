// The admin endpoints: /healthz (the process serves), /readyz (CA written,
// config loaded, listeners bound, not draining) and /metrics.
import http from 'node:http';
import type { Registry } from 'prom-client';

export interface Readiness {
  caWritten: boolean;
  configLoaded: boolean;
  listenersBound: boolean;
  draining: boolean;
}

export function createAdminServer(readiness: () => Readiness, registry: Registry): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
      return;
    }
    if (path === '/readyz') {
      const r = readiness();
      const ready = r.caWritten && r.configLoaded && r.listenersBound && !r.draining;
      res.writeHead(ready ? 200 : 503, { 'content-type': 'application/json' }).end(`${JSON.stringify({ ready, ...r })}\n`);
      return;
    }
    if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  });
}
