// The admission webhook's HTTPS server. buildWebhookServer(config, deps)
// returns a fastify app that is not yet listening:
//   POST /mutate   AdmissionReview v1 (validated at the boundary)
//   GET  /healthz  alive; GET /readyz  ready to admit; GET /metrics  Prometheus
// The serving certificate can be swapped at any time without a restart.
import type { Server as HttpsServer } from 'node:https';
import { fastify, LogController, type FastifyInstance, type FastifyReply } from 'fastify';
import type { CompiledPolicy } from '@mayfly/crds';
import { admit, eventFor, isPodCreate, type AdmissionEvent, type Outcome } from './admit.ts';
import { HTTP_STATUS, isWebhookError, WebhookError } from './errors.ts';
import type { InjectSettings } from './inject/types.ts';
import { createLogger, type Logger } from './log.ts';
import { createMetrics, type WebhookMetrics } from './metrics.ts';
import { deny, parseReview, reviewOf, type AdmissionResponse } from './review.ts';

export interface CertificatePair {
  /** PEM */
  cert: string;
  /** PEM */
  key: string;
}

export interface WebhookConfig {
  settings: InjectSettings;
  /** Largest AdmissionReview accepted, bytes. */
  bodyLimit?: number;
}

export interface WebhookDeps {
  /** The compiled policies of a namespace (the operator plugs in its informer cache). */
  policiesFor(namespace: string): readonly CompiledPolicy[] | Promise<readonly CompiledPolicy[]>;
  /** Records a Kubernetes Event; failures are logged and counted, never block admission. */
  recordEvent?(event: AdmissionEvent): Promise<void>;
  /** The first serving certificate. */
  certificate: CertificatePair;
  /** Whether the webhook may admit (e.g. the policy cache has synced). */
  ready?(): boolean;
  logger?: Logger;
  metrics?: WebhookMetrics;
}

export interface WebhookServer {
  app: FastifyInstance<HttpsServer>;
  metrics: WebhookMetrics;
  /** Replaces the serving certificate for new connections. */
  setCertificate(pair: CertificatePair): void;
}

const FASTIFY_ERRORS: Record<string, number> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 400,
  FST_ERR_CTP_EMPTY_JSON_BODY: 400,
  FST_ERR_CTP_BODY_TOO_LARGE: 413,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 415,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 400,
};

function sendError(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  return reply.code(status).send({ code, message });
}

export function buildWebhookServer(config: WebhookConfig, deps: WebhookDeps): WebhookServer {
  const log = deps.logger ?? createLogger();
  const metrics = deps.metrics ?? createMetrics();
  const app = fastify({
    https: { cert: deps.certificate.cert, key: deps.certificate.key, minVersion: 'TLSv1.2' },
    bodyLimit: config.bodyLimit ?? 4 * 1024 * 1024,
    loggerInstance: log,
    // One log line per admission (below), not fastify's two per request.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  }) as unknown as FastifyInstance<HttpsServer>;

  const setCertificate = (pair: CertificatePair): void => {
    app.server.setSecureContext({ cert: pair.cert, key: pair.key, minVersion: 'TLSv1.2' });
    log.info({ event: 'certificate-swapped' }, 'serving certificate replaced');
  };

  const record = (event: AdmissionEvent | undefined): void => {
    if (!event || !deps.recordEvent) return;
    deps.recordEvent(event).catch((err: unknown) => {
      metrics.eventFailures.inc();
      log.warn({ err, reason: event.reason }, 'event not recorded');
    });
  };

  app.setErrorHandler((err: Error & { code?: string; statusCode?: number }, _req, reply) => {
    if (isWebhookError(err)) return sendError(reply, HTTP_STATUS[err.code], err.code, err.message);
    const status = (err.code && FASTIFY_ERRORS[err.code]) ?? (err.statusCode && err.statusCode < 500 ? err.statusCode : undefined);
    if (status) return sendError(reply, status, 'ERR_MALFORMED_REVIEW', `malformed request: ${err.message.toLowerCase()}`);
    log.error({ err }, 'unexpected error');
    return sendError(reply, 500, 'ERR_INTERNAL', 'internal error');
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (deps.ready && !deps.ready()) return reply.code(503).send({ status: 'not ready' });
    return { status: 'ready' };
  });
  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metrics.registry.contentType);
    return metrics.registry.metrics();
  });

  app.post('/mutate', async (req) => {
    const started = process.hrtime.bigint();
    const review = parseReview(req.body);
    const request = review.request;
    let response: AdmissionResponse;
    let outcome: Outcome;
    let policies: readonly CompiledPolicy[] = [];
    try {
      if (isPodCreate(request)) policies = await deps.policiesFor(request.namespace ?? '');
      ({ response, outcome } = admit(request, config.settings, policies));
    } catch (err) {
      const e = isWebhookError(err) ? err : new WebhookError('ERR_POLICIES_UNAVAILABLE', 'policies unavailable', { cause: err });
      log.error({ err, uid: request.uid }, 'admission failed');
      response = deny(request.uid, HTTP_STATUS[e.code], 'InternalError', `mayfly: ${e.message}`);
      outcome = { result: 'error', reason: e.code, message: e.message };
    }
    if (!request.dryRun) record(eventFor(request, outcome));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.admissions.inc({ result: outcome.result, reason: outcome.reason });
    metrics.latency.observe({ result: outcome.result }, seconds);
    const pod = request.object as { metadata?: { name?: string; generateName?: string } } | null;
    log.info({ uid: request.uid, namespace: request.namespace, pod: pod?.metadata?.name || pod?.metadata?.generateName, dryRun: request.dryRun === true, result: outcome.result, reason: outcome.reason, ms: Math.round(seconds * 1e4) / 10 }, 'admission');
    return reviewOf(response);
  });

  return { app, metrics, setCertificate };
}
