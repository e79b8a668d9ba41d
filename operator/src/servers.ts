// The controller's two listeners. HTTPS (every replica): the webhook's
// /mutate, the config stream, the broker. Plain HTTP (every replica): /healthz,
// /readyz and /metrics for the kubelet and Prometheus. Each is built not yet
// listening, fastify-style.
import type { Server as HttpsServer } from 'node:https';
import { fastify, LogController, type FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { CertificatePair } from '@mayfly/webhook/server';
import type { Logger } from './log.ts';

/** An HTTPS app without the webhook (when it is disabled), with the same health routes. */
export function buildPlainHttpsApp(certificate: CertificatePair, log: Logger, ready: () => boolean): { app: FastifyInstance<HttpsServer>; setCertificate(pair: CertificatePair): void } {
  const app = fastify({
    https: { cert: certificate.cert, key: certificate.key, minVersion: 'TLSv1.2' },
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  }) as unknown as FastifyInstance<HttpsServer>;
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => (ready() ? { status: 'ready' } : reply.code(503).send({ status: 'not ready' })));
  return { app, setCertificate: (pair) => app.server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' }) };
}

export interface OpsDeps {
  registry: Registry;
  /** Alive: the event loop turns. */
  live?: () => boolean;
  /** Ready: caches synced and the HTTPS listener serving. */
  ready: () => boolean;
  /** What /readyz reports, for people reading it. */
  detail?: () => Record<string, unknown>;
  log: Logger;
}

export function buildOpsApp(deps: OpsDeps): FastifyInstance {
  const app = fastify({ loggerInstance: deps.log, logController: new LogController({ disableRequestLogging: true }) }) as unknown as FastifyInstance;
  app.get('/healthz', async (_req, reply) => (deps.live?.() === false ? reply.code(503).send({ status: 'unhealthy' }) : { status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    const detail = deps.detail?.() ?? {};
    return deps.ready() ? { status: 'ready', ...detail } : reply.code(503).send({ status: 'not ready', ...detail });
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', deps.registry.contentType);
    return deps.registry.metrics();
  });
  return app;
}
