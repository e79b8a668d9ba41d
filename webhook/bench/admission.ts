// Admission latency benchmark (not a test): the real HTTPS webhook server on
// loopback in its own process, driven open-loop at a fixed rate (requests are
// sent on schedule whether or not earlier ones have answered, as the API
// server would), with pod specs of several sizes.
//
//   node webhook/bench/admission.ts [--rate 200] [--seconds 15] [--sizes 4,64,256]
//
// Prints p50/p90/p99/max client-observed latency per size.
import { fork } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { Agent, request } from 'node:https';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { buildWebhookServer, createCA, createLogger, createServingCert, defaultSettings, type Pod } from '@mayfly/webhook';

const SELF = fileURLToPath(import.meta.url);

/** A realistic pod grown to about `kib` KiB of JSON: more containers, env, mounts. */
export function podOfSize(kib: number): Pod {
  const containers: NonNullable<Pod['spec']>['containers'] = [];
  const volumes: NonNullable<NonNullable<Pod['spec']>['volumes']> = [];
  const pod: Pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: `bench-${kib}`, namespace: 'bench', labels: { app: 'bench', tier: 'backend' } }, spec: { serviceAccountName: 'bench', containers, volumes } };
  let i = 0;
  while (Buffer.byteLength(JSON.stringify(pod)) < kib * 1024) {
    const c = containers.length === 0 || (containers[containers.length - 1]!.env?.length ?? 0) >= 60 ? undefined : containers[containers.length - 1];
    if (!c) {
      const n = containers.length;
      volumes.push({ name: `config-${n}`, configMap: { name: `bench-config-${n}` } });
      containers.push({
        name: `app-${n}`,
        image: `ghcr.io/acme/service-${n}:1.2.${n}`,
        args: ['--port=8080', `--instance=${n}`],
        ports: [{ name: `http-${n}`, containerPort: 8080 + n }],
        readinessProbe: { httpGet: { path: '/ready', port: 8080 + n } },
        resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
        securityContext: { runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
        volumeMounts: [{ name: `config-${n}`, mountPath: `/etc/service-${n}` }],
        env: [],
      });
      continue;
    }
    c.env!.push(i % 3 === 0
      ? { name: `SECRET_${i}`, valueFrom: { secretKeyRef: { name: 'bench-secrets', key: `key-${i}` } } }
      : { name: `SETTING_${i}`, value: `value-${i}-${'x'.repeat(24)}` });
    i++;
  }
  return pod;
}

function review(pod: Pod, uid: number): string {
  return JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: `bench-${uid}`, kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'bench', operation: 'CREATE', object: pod, oldObject: null, dryRun: false },
  });
}

async function serve(): Promise<void> {
  const now = new Date();
  const ca = createCA('bench-ca', now, 2);
  const certificate = createServingCert(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }, now, 1);
  const server = buildWebhookServer({ settings: defaultSettings() }, { certificate, policiesFor: () => [], logger: createLogger('silent', pino.destination('/dev/null')) });
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  process.send?.({ port: (server.app.server.address() as { port: number }).port, ca: ca.cert });
  process.on('message', () => process.send?.({ cpu: process.cpuUsage() }));
  process.on('disconnect', () => void server.app.close().then(() => process.exit(0)));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

async function drive(port: number, ca: string, kib: number, rate: number, seconds: number): Promise<{ p50: number; p90: number; p99: number; max: number; n: number; errors: number; bytes: number }> {
  const pod = podOfSize(kib);
  // Serialised once: the client must not spend the CPU the server is measured on.
  const [head, tail] = review(pod, 0).split('"bench-0"') as [string, string];
  const agent = new Agent({ keepAlive: true, maxSockets: 64, ca });
  const one = (uid: number) => new Promise<number>((resolve, reject) => {
    const body = `${head}"bench-${uid}"${tail}`;
    const start = process.hrtime.bigint();
    const req = request({ host: '127.0.0.1', port, path: '/mutate', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - start) / 1e6) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  // Warm up: JIT, TLS sessions.
  for (let i = 0; i < 200; i++) await one(i);
  const total = rate * seconds;
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    pending.push(one(1000 + i).then((ms) => { latencies.push(ms); }, () => { errors++; }));
  }
  await Promise.all(pending);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), p90: percentile(latencies, 90), p99: percentile(latencies, 99), max: latencies.at(-1) ?? NaN, n: latencies.length, errors, bytes: Buffer.byteLength(JSON.stringify(pod)) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { rate: { type: 'string', default: '200' }, seconds: { type: 'string', default: '15' }, sizes: { type: 'string', default: '4,64,256' }, serve: { type: 'boolean', default: false } } });
  if (values.serve) return serve();
  const child = fork(SELF, ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const { port, ca } = await new Promise<{ port: number; ca: string }>((resolve) => child.once('message', (m) => resolve(m as { port: number; ca: string })));
  const serverCpu = () => new Promise<number>((resolve) => {
    child.once('message', (m) => { const { cpu } = m as { cpu: NodeJS.CpuUsage }; resolve((cpu.user + cpu.system) / 1000); });
    child.send('cpu');
  });
  const rate = Number(values.rate);
  const seconds = Number(values.seconds);
  process.stdout.write(`admission webhook, HTTPS on loopback, server in its own process, ${rate} req/s open-loop for ${seconds}s per size\n`);
  process.stdout.write(`${cpus().length} CPUs, load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at start\n`);
  process.stdout.write('pod JSON     requests  errors   p50 ms   p90 ms   p99 ms   max ms   server CPU ms/admission\n');
  try {
    for (const kib of values.sizes.split(',').map(Number)) {
      const cpuBefore = await serverCpu();
      const r = await drive(port, ca, kib, rate, seconds);
      const cpuPer = ((await serverCpu()) - cpuBefore) / (r.n + r.errors + 200);
      process.stdout.write(`${`${(r.bytes / 1024).toFixed(0)} KiB`.padEnd(12)} ${String(r.n).padStart(8)}  ${String(r.errors).padStart(6)} ${r.p50.toFixed(2).padStart(8)} ${r.p90.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${r.max.toFixed(2).padStart(8)} ${cpuPer.toFixed(2).padStart(10)}\n`);
    }
    process.stdout.write(`load average ${loadavg().map((l) => l.toFixed(2)).join(' ')} at end\n`);
  } finally {
    child.disconnect();
  }
}

if (process.argv[1] === SELF) await main();
