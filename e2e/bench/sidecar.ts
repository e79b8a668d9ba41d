// Sidecar benchmark (`make bench`): plaintext and intercepted-HTTPS keep-alive
// throughput and latency (p50/p99 at a fixed 1000 req/s and at saturation), CPU
// per 1000 req/s, RSS, new TLS handshakes/s and leaf mint time, for the Mayfly
// sidecar against a direct connection, a bare Node pass-through proxy and
// nginx (Debian) adding the same header, all in one run. Writes the section
// "## Sidecar data plane" of docs/benchmarks.md.
// usage: node e2e/bench/sidecar.ts [--seconds N] [--no-write]
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestCa } from '../../sidecar/test/helpers/pki.ts';
import { PodCa } from '../../sidecar/src/tls/pod-ca.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const SECONDS = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 5;
const WRITE = !process.argv.includes('--no-write');

interface Child { proc: ChildProcess; ports: Record<string, number>; ask<T>(op: string): Promise<T> }

function startRole(role: string, cfg: unknown): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = fork(join(here, 'sidecar-targets.ts'), [role, JSON.stringify(cfg)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    proc.once('message', (m: { ready?: boolean; ports: Record<string, number> }) =>
      resolve({
        proc,
        ports: m.ports,
        ask: <T>(op: string) => new Promise<T>((r) => {
          const on = (msg: unknown) => {
            if (op === 'stats' ? (msg as { cpuMs?: number }).cpuMs !== undefined : (msg as { creds?: unknown }).creds !== undefined) {
              proc.off('message', on);
              r(msg as T);
            }
          };
          proc.on('message', on);
          proc.send({ op });
        }),
      }),
    );
    proc.once('exit', (c) => reject(new Error(`${role} exited ${c}`)));
  });
}

function freePort(): Promise<number> {
  return new Promise((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => r(p));
    });
  });
}

interface Load { rps: number; p50: number; p99: number; errors: number; n: number }
function load(opts: Record<string, unknown>): Promise<Load> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(here, 'sidecar-loadgen.ts'), JSON.stringify({ seconds: SECONDS, rate: 1000, connections: 16, ...opts })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('exit', (c) => (c === 0 ? resolve(JSON.parse(out) as Load) : reject(new Error(`loadgen exited ${c}`))));
  });
}

/** CPU ms and RSS bytes of a set of pids (nginx master + workers), from /proc. */
function procStats(pids: number[]): { cpuMs: number; rss: number } {
  let ticks = 0;
  let rss = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(stat[11]) + Number(stat[12]);
    rss += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;
  }
  return { cpuMs: ticks * 10, rss };
}

const dir = await mkdtemp(join(tmpdir(), 'mayfly-bench-'));
const ca = await createTestCa('Mayfly bench CA');
const leaf = await ca.issue(['api.bench']);
await writeFile(join(dir, 'up.key'), leaf.key);
await writeFile(join(dir, 'up.crt'), leaf.cert);
await writeFile(join(dir, 'ca.crt'), ca.cert);
const children: ChildProcess[] = [];
let nginx: ChildProcess | null = null;
try {
  const base = { key: leaf.key, cert: leaf.cert, ca: ca.cert, dir, upstreamHttp: 0, upstreamHttps: 0, policies: '' };
  const upstream = await startRole('upstream', base);
  children.push(upstream.proc);
  const cfg = { ...base, upstreamHttp: upstream.ports.http!, upstreamHttps: upstream.ports.https! };
  cfg.policies = `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: to-api, namespace: bench }
spec:
  subjects: { serviceAccounts: [bench] }
  destinations: [{ host: api.bench, ports: [80, ${cfg.upstreamHttp}, ${cfg.upstreamHttps}], plaintext: true, allowPrivateAddresses: true, methods: [GET, POST], paths: ["/v1/*"] }]
  credential: { provider: { broker: { audience: bench } }, inject: { header: Authorization, format: "Bearer {{token}}" } }
`;
  const bare = await startRole('bare', cfg);
  children.push(bare.proc);
  const mayfly = await startRole('mayfly', cfg);
  children.push(mayfly.proc);
  const podCa = (await mayfly.ask<{ caPem: string }>('creds')).caPem;

  const ngHttp = await freePort();
  const ngHttps = await freePort();
  const conf = `worker_processes 1; daemon off; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 4096; }
http {
  access_log off; keepalive_requests 1000000; client_body_temp_path ${dir}/ngb; proxy_temp_path ${dir}/ngp; fastcgi_temp_path ${dir}/ngf; uwsgi_temp_path ${dir}/ngu; scgi_temp_path ${dir}/ngs;
  upstream up_http { server 127.0.0.1:${cfg.upstreamHttp}; keepalive 64; }
  upstream up_https { server 127.0.0.1:${cfg.upstreamHttps}; keepalive 64; }
  server { listen 127.0.0.1:${ngHttp}; location / { proxy_pass http://up_http; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_set_header Authorization "Bearer sk_bench"; } }
  server { listen 127.0.0.1:${ngHttps} ssl; ssl_certificate ${dir}/up.crt; ssl_certificate_key ${dir}/up.key;
    location / { proxy_pass https://up_https; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $http_host; proxy_set_header Authorization "Bearer sk_bench";
      proxy_ssl_server_name on; proxy_ssl_name api.bench; proxy_ssl_verify on; proxy_ssl_trusted_certificate ${dir}/ca.crt; proxy_ssl_session_reuse on; } }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  nginx = spawn('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  for (let i = 0; i < 50 && !existsSync(join(dir, 'nginx.pid')); i++) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 300));
  const nginxPids = (): number[] => {
    const master = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8'));
    const kids = readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return [master, ...kids];
  };

  type Target = { name: string; http: number; https: number; ca: string; stats: () => Promise<{ cpuMs: number; rss: number }> };
  const targets: Target[] = [
    { name: 'direct', http: cfg.upstreamHttp, https: cfg.upstreamHttps, ca: ca.cert, stats: () => upstream.ask('stats') },
    { name: 'bare Node proxy', http: bare.ports.http!, https: bare.ports.https!, ca: ca.cert, stats: () => bare.ask('stats') },
    { name: 'nginx', http: ngHttp, https: ngHttps, ca: ca.cert, stats: async () => procStats(nginxPids()) },
    { name: 'mayfly sidecar', http: mayfly.ports.http!, https: mayfly.ports.https!, ca: podCa, stats: () => mayfly.ask('stats') },
  ];
  const rows: Array<{ target: string; proto: string; fixed: Load; sat: Load; cpuPer1k: number; rss: number; hs?: Load }> = [];
  for (const proto of ['plaintext', 'https'] as const) {
    for (const t of targets) {
      const tls = proto === 'https';
      const port = tls ? t.https : t.http;
      const common = { port, tls, servername: 'api.bench', host: `api.bench:${tls ? cfg.upstreamHttps : cfg.upstreamHttp}`, ca: t.ca };
      await load({ ...common, mode: 'saturate', seconds: 1 }); // warm-up
      let before = await t.stats();
      const upBefore = t.name === 'direct' ? null : await upstream.ask<{ cpuMs: number }>('stats');
      void upBefore;
      before = await t.stats();
      const fixed = await load({ ...common, mode: 'fixed' });
      const after = await t.stats();
      const cpuPer1k = t.name === 'direct' ? NaN : (after.cpuMs - ('cpuMs' in before && t.name === 'nginx' ? before.cpuMs : 0)) / SECONDS / 1000 / (fixed.rps / 1000);
      const sat = await load({ ...common, mode: 'saturate', connections: 32 });
      const rss = (await t.stats()).rss;
      const hs = tls ? await load({ ...common, mode: 'handshake', connections: 4, seconds: Math.max(2, Math.round(SECONDS / 2)) }) : undefined;
      rows.push({ target: t.name, proto, fixed, sat, cpuPer1k, rss, ...(hs ? { hs } : {}) });
      process.stderr.write(`${proto} ${t.name}: fixed p50 ${fixed.p50.toFixed(2)} p99 ${fixed.p99.toFixed(2)} ms, sat ${sat.rps.toFixed(0)} rps p99 ${sat.p99.toFixed(2)}, cpu/1k ${cpuPer1k.toFixed(3)}, rss ${(rss / 2 ** 20).toFixed(0)} MiB${hs ? `, handshakes ${hs.rps.toFixed(0)}/s` : ''}, errors ${fixed.errors + sat.errors}\n`);
    }
  }
  const info = await mayfly.ask<{ creds: { hits: number; misses: number; refreshes: number; failures: number }; leaves: { minted: number } }>('creds');

  // Leaf mint time, in this process, with a fresh pod CA.
  const bench = await PodCa.create({ lifetimeMs: 86400_000, leafLifetimeMs: 86400_000, permittedHosts: ['*.mint.bench'], maxLeaves: 1000, commonName: 'bench/mint' });
  await bench.leaf('warm.mint.bench');
  const mints: number[] = [];
  for (let i = 0; i < 100; i++) {
    const t0 = performance.now();
    await bench.leaf(`h${i}.mint.bench`);
    mints.push(performance.now() - t0);
  }
  mints.sort((a, b) => a - b);

  const f = (n: number, d = 2) => (Number.isFinite(n) ? n.toFixed(d) : 'n/a');
  const get = (target: string, proto: string) => rows.find((r) => r.target === target && r.proto === proto)!;
  const lines: string[] = [];
  lines.push('## Sidecar data plane', '');
  lines.push(`Measured by \`node e2e/bench/sidecar.ts\` (part of \`make bench\`) on ${new Date().toISOString().slice(0, 10)}: ${SECONDS}s per run, all on one machine (2 vCPU, shared; loopback), a Node load generator (keep-alive, 16 connections at a fixed 1000 req/s with latency from the intended send time, 32 connections at saturation). Every proxy adds \`Authorization: Bearer ...\` to a GET; "https" means the client speaks TLS to the proxy and the proxy speaks verified TLS to the upstream (for Mayfly: interception with a leaf from the pod CA). CPU is the proxy process's own CPU time during the fixed-rate run, per 1000 req/s (1.0 = one full core). Absolute numbers move with the machine's load; the ratios against the bare Node proxy measured in the same run are the point.`, '');
  lines.push('| proto | target | p50 @1000/s (ms) | p99 @1000/s (ms) | saturation (req/s) | p99 at saturation (ms) | CPU per 1000 req/s (vCPU) | RSS (MiB) | new TLS handshakes/s |');
  lines.push('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) lines.push(`| ${r.proto} | ${r.target} | ${f(r.fixed.p50)} | ${f(r.fixed.p99)} | ${f(r.sat.rps, 0)} | ${f(r.sat.p99)} | ${r.target === 'direct' ? '(upstream)' : f(r.cpuPer1k, 3)} | ${f(r.rss / 2 ** 20, 0)} | ${r.hs ? f(r.hs.rps, 0) : ''} |`);
  lines.push('', 'Mayfly against the bare Node pass-through proxy (targets: throughput at least 0.80, added p99 at 1000 req/s under 1 ms; intercepted HTTPS at most 0.25 vCPU per 1000 req/s and under 100 MiB RSS):', '');
  lines.push('| proto | throughput ratio | added p99 @1000/s (ms) | vs nginx throughput | CPU per 1000 req/s | RSS (MiB) |', '|---|---|---|---|---|---|');
  for (const proto of ['plaintext', 'https']) {
    const m = get('mayfly sidecar', proto);
    const b = get('bare Node proxy', proto);
    const n = get('nginx', proto);
    lines.push(`| ${proto} | ${f(m.sat.rps / b.sat.rps)} | ${f(m.fixed.p99 - b.fixed.p99)} | ${f(m.sat.rps / n.sat.rps)} | ${f(m.cpuPer1k, 3)} | ${f(m.rss / 2 ** 20, 0)} |`);
  }
  lines.push('', `Leaf mint (ECDSA P-256 key + certificate from the pod CA): p50 ${f(mints[50]!)} ms, p99 ${f(mints[98]!)} ms over 100 names. Leaves minted by the sidecar during the whole run: ${info.leaves.minted} (one per host; every later handshake reuses it).`);
  lines.push(`Credential lookups during the run: ${info.creds.misses} miss, ${info.creds.hits} hits, ${info.creds.failures} failures: after the first request no credential is fetched on the request path. (This run uses the static local credential source; the cluster credential cache has its own tests.)`, '');
  const section = `${lines.join('\n')}\n`;
  process.stdout.write(section);
  if (WRITE) {
    const docPath = join(root, 'docs', 'benchmarks.md');
    const doc = existsSync(docPath) ? await readFile(docPath, 'utf8') : '# Benchmarks\n\n';
    const start = doc.indexOf('## Sidecar data plane');
    let next = start < 0 ? -1 : doc.indexOf('\n## ', start + 5);
    if (next >= 0) next += 1;
    const updated = start < 0 ? `${doc.trimEnd()}\n\n${section}` : `${doc.slice(0, start)}${section}${next >= 0 ? `\n${doc.slice(next)}` : ''}`;
    await writeFile(docPath, updated);
  }
} finally {
  nginx?.kill('SIGTERM');
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  await rm(dir, { recursive: true, force: true });
}
