// Processes the sidecar benchmark measures, one role per process so that CPU
// and RSS are each its own: the upstream, a bare Node pass-through proxy (adds
// the same header), three reference relays (for --decompose) and the Mayfly
// sidecar (in-process build, the cluster's credential cache in front of a
// counting provider). Each reports {cpu, rss} on
// "stats" over IPC; "exit" ends it cleanly (so --cpu-prof writes its profile).
// The benchmark runs this file bundled (cli/scripts/bundle.ts, as the image
// ships the sidecar): every Node role then runs as plain JavaScript, without
// Node's type stripper, which would add the same ~17 MiB to each.
// usage: node sidecar-targets.ts ROLE CONFIG_JSON
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import type { PolicySnapshot as Snapshot } from '@mayfly/sidecar/contracts';

const [role, configJson] = process.argv.slice(2) as [string, string];
const cfg = JSON.parse(configJson) as { key: string; cert: string; ca: string; upstreamHttp: number; upstreamHttps: number; dir: string; policies: unknown[] };
const ports: Record<string, number> = {};
// The Node servers keep an idle client connection as long as the sidecar's
// front does (60 s). With Node's default of 5 s, the load generator's
// connections that sit unused for 5 s are closed under it: a request sent just
// as one closes fails, and each reconnect (a TLS handshake for https) lands in
// the measured latency of the proxy that closed it.
const KEEP_ALIVE_MS = 60_000;
const BODY = Buffer.from('{"id":"ch_1","object":"charge","amount":2000}\n');

/** For the references that use the sidecar's own upstream pool and relay: the pool, and the upstream as they dial it (one credential, no passes). */
async function sidecarRelayPool() {
  const { SIDECAR_POOL_LIMITS, UpstreamPool } = await import('@mayfly/sidecar/pipeline/forward');
  const pool = new UpstreamPool({ extraCa: [cfg.ca], ...SIDECAR_POOL_LIMITS });
  const target = (secure: boolean) => ({ tls: secure, host: 'api.bench', port: secure ? cfg.upstreamHttps : cfg.upstreamHttp, address: '127.0.0.1', credentialId: 'bench' });
  return { pool, target };
}

async function listen(server: net.Server, name: string): Promise<void> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  ports[name] = (server.address() as AddressInfo).port;
}

if (role === 'upstream') {
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': BODY.length }).end(BODY));
  };
  await listen(http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, handler), 'http');
  await listen(https.createServer({ key: cfg.key, cert: cfg.cert, keepAliveTimeout: KEEP_ALIVE_MS }, handler), 'https');
} else if (role === 'bare') {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const tlsAgent = new https.Agent({ keepAlive: true, maxSockets: 256, ca: cfg.ca, servername: 'api.bench' });
  const proxy = (secure: boolean) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const headers = { ...req.headers, authorization: 'Bearer sk_bench' };
    const up = (secure ? https : http).request({ host: '127.0.0.1', port: secure ? cfg.upstreamHttps : cfg.upstreamHttp, method: req.method, path: req.url, headers, agent: secure ? tlsAgent : agent, ...(secure ? { servername: 'api.bench' } : {}) }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  };
  await listen(http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, proxy(false)), 'http');
  await listen(https.createServer({ key: cfg.key, cert: cfg.cert, keepAliveTimeout: KEEP_ALIVE_MS }, proxy(true)), 'https');
} else if (role === 'relay-only') {
  // Reference for where the sidecar's CPU goes (--decompose): Node's HTTP(S)
  // server and the sidecar's own upstream pool and relay, with none of
  // the pipeline's passes (no parse, decide, strip, credential lookup, audit or
  // metrics). Not a proxy anyone should run: it forwards everything to the
  // upstream with a fixed header.
  const { relay } = await import('@mayfly/sidecar/pipeline/relay');
  const { pool, target: upstream } = await sidecarRelayPool();
  const proxy = (secure: boolean) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    const target = upstream(secure);
    const headers = [...req.rawHeaders, 'Authorization', 'Bearer sk_bench'];
    // the relay writes to the sidecar's response interface; this is Node's ServerResponse behind it
    const sink = {
      get closed() {
        return res.writableEnded || res.destroyed;
      },
      onclose: null as (() => void) | null,
      ondrain: null as (() => void) | null,
      writeHead: (status: number, text: string, h: readonly string[]) => void res.writeHead(status, text, h as string[]),
      write: (chunk: Buffer) => res.write(chunk),
      end: () => void res.end(),
      destroy: () => void res.destroy(),
    };
    res.once('close', () => sink.onclose?.());
    res.on('drain', () => sink.ondrain?.());
    relay(pool, { target, method: req.method ?? 'GET', path: req.url ?? '/', headers, body: null, timeoutMs: 30_000, policy: undefined }, sink).catch(() => res.destroy());
  };
  await listen(http.createServer({ keepAliveTimeout: KEEP_ALIVE_MS }, proxy(false)), 'http');
  await listen(https.createServer({ key: cfg.key, cert: cfg.cert, keepAliveTimeout: KEEP_ALIVE_MS }, proxy(true)), 'https');
} else if (role === 'parser-front') {
  // Reference (--decompose): the sidecar's own HTTP/1 front
  // (sidecar/src/server/http1.ts: Node's request parser, no IncomingMessage or
  // ServerResponse) in front of its upstream pool and relay, with none of the
  // pipeline's passes: what the sidecar costs without them.
  const { relay } = await import('@mayfly/sidecar/pipeline/relay');
  const { Http1Front } = await import('@mayfly/sidecar/server/http1');
  const { pool, target: upstream } = await sidecarRelayPool();
  const front = new Http1Front<boolean>(
    { maxHeaderBytes: 32 * 1024, headersTimeoutMs: 10_000, requestTimeoutMs: 300_000, keepAliveTimeoutMs: KEEP_ALIVE_MS, checkIntervalMs: 1000 },
    {
      request(req, res, secure) {
        const headers = [...req.rawHeaders, 'Authorization', 'Bearer sk_bench'];
        relay(pool, { target: upstream(secure), method: req.method, path: req.url, headers, body: null, timeoutMs: 30_000, policy: undefined }, res).catch(() => res.destroy());
      },
      connect: (_req, socket) => socket.destroy(),
      rejected: () => {},
    },
  );
  await listen(net.createServer({ noDelay: true }, (s) => front.serve(s, false)), 'http');
  await listen(tls.createServer({ key: cfg.key, cert: cfg.cert, ALPNProtocols: ['http/1.1'], noDelay: true }, (s) => front.serve(s, true)), 'https');
} else if (role === 'stream-relay') {
  // Reference floor (--decompose): a TCP or TLS relay with no HTTP library,
  // what Node's sockets, TLS and the kernel cost per request. It handles only
  // what the benchmark sends (GET with no body; responses with Content-Length)
  // and adds the same header after the request head; nothing is checked.
  const relayConn = (client: net.Socket, upstream: net.Socket): void => {
    upstream.setNoDelay(true);
    let req = '';
    client.setEncoding('latin1');
    client.on('data', (d: string) => {
      req += d;
      for (let end = req.indexOf('\r\n\r\n'); end >= 0; end = req.indexOf('\r\n\r\n')) {
        upstream.write(`${req.slice(0, end)}\r\nAuthorization: Bearer sk_bench\r\n\r\n`, 'latin1');
        req = req.slice(end + 4);
      }
    });
    let res = '';
    upstream.setEncoding('latin1');
    upstream.on('data', (d: string) => {
      res += d;
      for (let end = res.indexOf('\r\n\r\n'); end >= 0; end = res.indexOf('\r\n\r\n')) {
        const size = end + 4 + Number(/content-length: *(\d+)/i.exec(res.slice(0, end))?.[1] ?? 0);
        if (res.length < size) return;
        client.write(res.slice(0, size), 'latin1');
        res = res.slice(size);
      }
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => client.destroy());
    upstream.on('error', () => upstream.destroy());
  };
  await listen(net.createServer({ noDelay: true }, (c) => relayConn(c, net.connect({ host: '127.0.0.1', port: cfg.upstreamHttp }))), 'http');
  await listen(
    tls.createServer({ key: cfg.key, cert: cfg.cert, ALPNProtocols: ['http/1.1'] }, (c) => {
      c.setNoDelay(true);
      relayConn(c, tls.connect({ host: '127.0.0.1', port: cfg.upstreamHttps, servername: 'api.bench', ca: cfg.ca }));
    }),
    'https',
  );
} else if (role === 'mayfly') {
  const { buildSidecar } = await import('@mayfly/sidecar/sidecar');
  const { CredentialCache } = await import('@mayfly/sidecar/credentials/cache');
  const { CounterMetrics } = await import('@mayfly/sidecar/credentials/metrics');
  const { DEFAULT_LIMITS } = await import('@mayfly/sidecar/config/runtime');
  const { createLogger } = await import('@mayfly/sidecar/audit');
  const { join } = await import('node:path');
  // Compiled policies, as the controller's config stream delivers them to a
  // pod (the benchmark compiled them): like a pod's sidecar, this one never
  // loads the CRD validator.
  const snapshot = { revision: '1', policies: cfg.policies } as Snapshot;
  const config = { start: async (onUpdate: (s: Snapshot) => void) => onUpdate(snapshot), stop: async () => {} };
  // The cluster's credential cache in front of a provider that counts its
  // exchanges: each credential lives 60 s, so refresh-ahead runs during the
  // benchmark; a request that has to wait for an exchange counts as a miss.
  const counts = new CounterMetrics();
  let exchanges = 0;
  const creds = new CredentialCache({
    providerFor: () => ({
      async get() {
        exchanges++;
        return { value: 'sk_bench', id: `bench-${exchanges}`, expiresAt: Date.now() + 60_000 };
      },
    }),
    metrics: counts,
  });
  const sidecar = buildSidecar(
    {
      identity: { namespace: 'bench', name: 'bench-0', uid: 'u', serviceAccount: 'bench', labels: {}, images: [] },
      listeners: { address: '127.0.0.1', transparent: [{ captures: cfg.upstreamHttp, port: 0 }, { captures: cfg.upstreamHttps, port: 0 }], proxy: null, admin: null },
      trustDir: join(cfg.dir, 'trust'),
      upstreamCa: [cfg.ca],
      ca: { lifetimeMs: 86400_000, leafLifetimeMs: 86400_000, maxLeaves: 1000, nameConstraints: true },
      limits: { ...DEFAULT_LIMITS },
      logLevel: 'info',
    },
    {
      config,
      credentials: creds,
      // The audit log goes to stdout, the sidecar's default: the benchmark
      // pipes it to a reader outside this process, as a pod's runtime does.
      logger: createLogger('info'),
      // Bench names resolve to loopback; the benchmark measures the pipeline, not DNS.
      resolver: { resolve: async () => '127.0.0.1' },
    },
  );
  await sidecar.start();
  const t = sidecar.ports().transparent;
  ports.http = t.get(cfg.upstreamHttp) as number;
  ports.https = t.get(cfg.upstreamHttps) as number;
  process.on('message', (m: { op?: string }) => {
    if (m.op === 'creds') {
      const c = counts.snapshot();
      process.send?.({ creds: { hits: c.hit, misses: c.miss, refreshes: c.refresh, failures: c.failure, exchanges }, leaves: sidecar.ca()?.stats(), caPem: sidecar.ca()?.certPem });
    }
  });
}

// Garbage-collection pauses since the last "gc" question, by kind: the benchmark
// asks around its alternating turns, to tell the tail latency the collector
// causes from the rest.
const GC_KINDS: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
  [constants.NODE_PERFORMANCE_GC_MINOR_MARK_SWEEP]: 'minor mark-sweep',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'mark-compact',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental marking',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weak callbacks',
};
/** One garbage-collection pause, as the "gc" answer lists them. */
export interface GcPause { kind: string; ms: number }
let gcPauses: GcPause[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcPauses.push({ kind: GC_KINDS[(e as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other', ms: e.duration });
}).observe({ entryTypes: ['gc'] });

let last = process.cpuUsage();
process.on('message', (m: { op?: string }) => {
  if (m.op === 'gc') {
    process.send?.({ gc: gcPauses });
    gcPauses = [];
  }
  if (m.op === 'stats') {
    const now = process.cpuUsage();
    const mem = process.memoryUsage();
    process.send?.({ cpuMs: (now.user - last.user + now.system - last.system) / 1000, rss: mem.rss, heap: { total: Math.round(mem.heapTotal / 2 ** 20), used: Math.round(mem.heapUsed / 2 ** 20), external: Math.round(mem.external / 2 ** 20) } });
    last = now;
  }
  if (m.op === 'exit') process.exit(0); // a clean exit writes --cpu-prof / --heap-prof output
});
process.send?.({ ready: true, ports });

