// The config stream endpoint, as a fastify plugin served on every replica.
// GET /v1/config/stream authenticates the pod, subscribes it to the hub and
// writes NDJSON until the client leaves, the pod is deleted, the token expires
// or the controller shuts down. Heartbeats let both ends notice a dead peer.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CONFIG_STREAM_CONTENT_TYPE, CONFIG_STREAM_PATH, type StreamMessage } from '@mayfly/sidecar/control/protocol';
import type { Clock } from '../machinery/clock.ts';
import { AuthError, type Authenticator } from './auth.ts';
import type { ConfigHub, Subscriber } from './hub.ts';

export interface StreamRouteDeps {
  authenticator: Authenticator;
  hub: ConfigHub;
  clock: Clock;
  /** False until the informer caches have synced: a stream must never start from an empty cache. */
  ready: () => boolean;
  heartbeatMs?: number;
  log?: { info(o: object, m: string): void; warn(o: object, m: string): void };
  onStream?: (event: 'open' | 'close' | 'refused', code?: string) => void;
}

const STATUS_OF: Record<string, number> = { ERR_UNAUTHENTICATED: 401, ERR_FORBIDDEN: 403, ERR_NOT_READY: 503, ERR_AUTH_UNAVAILABLE: 503 };

function bearer(req: FastifyRequest): string {
  const h = req.headers.authorization ?? '';
  const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(h);
  return m?.[1] ?? '';
}

function refuse(reply: FastifyReply, code: string, message: string): FastifyReply {
  return reply.code(STATUS_OF[code] ?? 500).header('cache-control', 'no-store').send({ code, message });
}

export async function configStreamRoutes(app: FastifyInstance, deps: StreamRouteDeps): Promise<void> {
  const heartbeatMs = deps.heartbeatMs ?? 15_000;

  app.get(CONFIG_STREAM_PATH, async (req, reply) => {
    if (!deps.ready()) {
      deps.onStream?.('refused', 'ERR_NOT_READY');
      return refuse(reply, 'ERR_NOT_READY', 'controller caches are not synced yet');
    }
    let pod;
    try {
      pod = await deps.authenticator.authenticate(bearer(req));
    } catch (err) {
      if (err instanceof AuthError) {
        deps.onStream?.('refused', err.code);
        deps.log?.warn({ code: err.code, reason: err.message }, 'config stream refused');
        return refuse(reply, err.code, err.message);
      }
      deps.log?.warn({ err: (err as Error).message }, 'token review failed');
      deps.onStream?.('refused', 'ERR_AUTH_UNAVAILABLE');
      return refuse(reply, 'ERR_AUTH_UNAVAILABLE', 'cannot verify the token now');
    }

    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, { 'content-type': CONFIG_STREAM_CONTENT_TYPE, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.flushHeaders();
    let closed = false;
    const write = (m: StreamMessage): void => {
      if (!closed) res.write(`${JSON.stringify(m)}\n`);
    };
    const sub: Subscriber = {
      namespace: pod.namespace,
      podName: pod.podName,
      podUID: pod.podUID,
      subject: { namespace: pod.namespace, serviceAccount: pod.serviceAccount, labels: pod.labels },
      send: write,
      close: () => {
        if (closed) return;
        closed = true;
        res.end();
      },
    };
    const ctx = { namespace: pod.namespace, pod: pod.podName };
    deps.log?.info(ctx, 'config stream opened');
    deps.onStream?.('open');
    const heartbeat = setInterval(() => write({ type: 'heartbeat', at: new Date(deps.clock.now()).toISOString() }), heartbeatMs);
    heartbeat.unref();
    const expiry = pod.expiresAt !== null ? deps.clock.setTimer(pod.expiresAt - deps.clock.now(), () => deps.hub.end(sub, 'ERR_TOKEN_EXPIRED', 'the token expired; reconnect with the current one')) : null;
    const unsubscribe = deps.hub.subscribe(sub);
    res.on('close', () => {
      closed = true;
      clearInterval(heartbeat);
      expiry?.cancel();
      unsubscribe();
      deps.onStream?.('close');
      deps.log?.info(ctx, 'config stream closed');
    });
  });
}
