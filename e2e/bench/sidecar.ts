// Sidecar benchmark (`make bench`): plaintext and intercepted-HTTPS keep-alive
// throughput and latency (p50/p99 at a fixed 1000 req/s and at saturation), CPU
// per 1000 req/s, RSS, new TLS handshakes/s and leaf mint time, for the Mayfly
// sidecar against a direct connection, a bare Node pass-through proxy and
// nginx (Debian) adding the same header, all in one run; optionally also an
// earlier revision of the sidecar, so before and after share the baselines.
// Every measurement is repeated --runs times with the targets interleaved (each
// run in an order rotated by one), and reported as the median and the range;
// ratios are taken within each run.
// Writes the section "## Sidecar data plane" of docs/benchmarks.md.
//
// Then the added latency alone, the sidecar against the bare Node proxy
// (sidecar-loadgen.ts `alternate`): both at the fixed rate in alternating
// turns of a few seconds, so the machine's stalls fall on both alike, with a
// bootstrap interval over the pairs of turns.
//
// usage: node e2e/bench/sidecar.ts [--seconds N] [--runs N] [--paired-seconds N] [--paired-only] [--before REV] [--decompose] [--unconstrained] [--no-write]
//   --paired-seconds N  seconds of alternating turns for each of the two, per protocol
//                       (default 120; 0: none)
//   --paired-only       only the alternating turns (not the matrix of targets); prints, never writes
//   --before REV        also measure the sidecar of git revision REV (exported with git archive)
//   --decompose         also measure three reference relays that show where the sidecar's CPU
//                       goes: a TCP/TLS relay with no HTTP library; Node's request parser
//                       alone, and Node's whole server, each with the sidecar's upstream
//                       pool and relay but none of its passes
//   --unconstrained     run the Node proxies with V8's default heap sizing instead of the pod's
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, writeFile, rm, mkdir, symlink, readdir } from 'node:fs/promises';
import { existsSync, openSync, readFileSync } from 'node:fs';
import net from 'node:net';
import type { Writable } from 'node:stream';
import { loadavg, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createTestCa } from '../../sidecar/test/helpers/pki.ts';
import { PodCa } from '../../sidecar/src/tls/pod-ca.ts';
import { loadPolicies } from '../../crds/src/load.ts';
import { bundle } from '../../cli/scripts/bundle.ts';
import { JEMALLOC, sidecarAllocatorEnv } from '../src/allocator.ts';
import { percentile, pooledDifference, pooledPercentile, type Interval } from './stats.ts';
import type { GcPause } from './sidecar-targets.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '5' }, runs: { type: 'string', default: '3' }, before: { type: 'string' }, unconstrained: { type: 'boolean', default: false }, decompose: { type: 'boolean', default: false }, 'no-write': { type: 'boolean', default: false }, 'paired-seconds': { type: 'string', default: '120' }, 'paired-only': { type: 'boolean', default: false } } });
const SECONDS = Number(args.seconds) || 5;
const RUNS = Math.max(1, Number(args.runs) || 3);
const PAIRED_ONLY = args['paired-only'];
const WRITE = !args['no-write'] && !PAIRED_ONLY;
/** Seconds of one block of the alternating measurement, and how many each target gets per protocol. */
const BLOCK_SECONDS = 2;
const PAIRED_BLOCKS = Math.max(PAIRED_ONLY ? 1 : 0, Math.round((Number(args['paired-seconds']) || 0) / BLOCK_SECONDS));
const IDLE_SECONDS = 10;
/** Seconds at the fixed rate, on the same connections, before its counted seconds: connecting and the switch from the saturating warm-up settle there. */
const FIXED_WARMUP_SECONDS = 2;
// The webhook and the chart give the sidecar container a 256Mi memory limit, and
// Node sizes V8's heap from the cgroup limit it runs in. These flags are what
// it picks there (checked: heap_size_limit 259 MiB and a young generation that
// stays at 2 MiB, as inside a 256Mi memory cgroup). Both Node proxies get them.
const POD_HEAP = args.unconstrained ? [] : ['--max-old-space-size=256', '--max-semi-space-size=1'];

interface Child { proc: ChildProcess; ports: Record<string, number>; ask<T>(op: string, key: string): Promise<T> }

// The sidecar runs on the allocator the image gives it (e2e/src/allocator.ts).
const POD_ENV = sidecarAllocatorEnv();

function startRole(script: string, role: string, cfg: unknown, execArgv: string[] = [], env: Record<string, string> = {}, stdout: 'inherit' | Writable = 'inherit'): Promise<Child> {
  return new Promise((resolve, reject) => {
    const proc = fork(script, [role, JSON.stringify(cfg)], { execArgv: [...process.execArgv, ...execArgv], env: { ...process.env, ...env }, stdio: ['ignore', stdout, 'inherit', 'ipc'] });
    proc.once('message', (m: { ports: Record<string, number> }) =>
      resolve({
        proc,
        ports: m.ports,
        ask: <T>(op: string, key: string) =>
          new Promise<T>((r) => {
            const on = (msg: unknown) => {
              if ((msg as Record<string, unknown>)[key] !== undefined) {
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

interface Load { rps: number; p50: number; p99: number; errors: number; n: number; samples?: number[] }
/** Runs the load generator; `onMeasure` is called where its counted seconds begin (after a fixed-rate warm-up). */
function load<T = Load>(opts: Record<string, unknown>, onMeasure?: () => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(here, 'sidecar-loadgen.ts'), JSON.stringify({ seconds: SECONDS, rate: 1000, connections: 16, ...opts })], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('measuring\n')) {
        out = out.slice('measuring\n'.length);
        onMeasure?.();
      }
    });
    p.on('exit', (c) => (c === 0 ? resolve(JSON.parse(out) as T) : reject(new Error(`loadgen exited ${c}`))));
  });
}

/** Failed requests of one target, counted by what went wrong: "0", or "2 (HTTP/1.1 502 Bad Gateway: 1, connection closed before the response: 1)". */
function failedText(kinds: string[]): string {
  if (kinds.length === 0) return '0';
  const counts = new Map<string, number>();
  for (const k of kinds) counts.set(k, (counts.get(k) ?? 0) + 1);
  return `${kinds.length} (${[...counts].map(([k, n]) => `${k}: ${n}`).join(', ')})`;
}

type Endpoint = { port: number; tls: boolean; servername: string; host: string; ca: string };
/** Two targets at the fixed rate in alternating blocks (sidecar-loadgen.ts `alternate`): every block's latencies, ascending, for each. */
/** "kind: count, total ms, largest ms" for each kind of pause. */
function gcText(pauses: GcPause[]): string {
  const kinds = [...new Set(pauses.map((p) => p.kind))].sort();
  if (kinds.length === 0) return 'none';
  return kinds
    .map((k) => {
      const ms = pauses.filter((p) => p.kind === k).map((p) => p.ms);
      return `${k} ${ms.length} (${ms.reduce((a, b) => a + b, 0).toFixed(0)} ms, largest ${Math.max(...ms).toFixed(2)})`;
    })
    .join(', ');
}

function alternate(opts: { targets: [Endpoint, Endpoint]; block: number; blocks: number; warmup: number }): Promise<{ errors: number; failures: [string[], string[]]; blocks: [number[][], number[][]] }> {
  return load({ mode: 'alternate', ...opts });
}

/** CPU ms, RSS and anonymous RSS (bytes) of a set of pids, from /proc: the same method for every target. */
function procStats(pids: number[]): { cpuMs: number; sysMs: number; rss: number; anon: number } {
  let ticks = 0;
  let sys = 0;
  let rss = 0;
  let anon = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(stat[11]) + Number(stat[12]);
    sys += Number(stat[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    rss += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
    anon += Number(/RssAnon:\s+(\d+)/.exec(status)?.[1] ?? 0) * 1024;
  }
  return { cpuMs: ticks * 10, sysMs: sys * 10, rss, anon };
}

/** An earlier revision's sources, runnable next to this checkout's node_modules. */
async function exportRevision(rev: string, into: string): Promise<string> {
  const dir = join(into, 'before');
  await mkdir(dir, { recursive: true });
  const tar = execFileSync('git', ['-C', root, 'archive', '--format=tar', rev, 'package.json', 'tsconfig.base.json', 'crds', 'sidecar', 'e2e'], { maxBuffer: 1 << 28 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  await mkdir(join(dir, 'node_modules', '@mayfly'), { recursive: true });
  for (const e of await readdir(join(root, 'node_modules'))) if (e !== '@mayfly') await symlink(join(root, 'node_modules', e), join(dir, 'node_modules', e));
  for (const p of ['crds', 'sidecar', 'e2e']) {
    await symlink(join(dir, p), join(dir, 'node_modules', '@mayfly', p));
    if (existsSync(join(root, p, 'node_modules'))) await symlink(join(root, p, 'node_modules'), join(dir, p, 'node_modules'));
  }
  return join(dir, 'e2e', 'bench', 'sidecar-targets.ts');
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const dir = await mkdtemp(join(tmpdir(), 'mayfly-bench-'));
const ca = await createTestCa('Mayfly bench CA');
const leaf = await ca.issue(['api.bench']);
await writeFile(join(dir, 'up.key'), leaf.key);
await writeFile(join(dir, 'up.crt'), leaf.cert);
await writeFile(join(dir, 'ca.crt'), ca.cert);
const children: ChildProcess[] = [];
let nginx: ChildProcess | null = null;
const load0 = loadavg();
try {
  // Every Node role runs from a bundle of sidecar-targets.ts, built the way the
  // image builds the sidecar: plain JavaScript, no type stripper in memory.
  const targetsScript = await bundle(join(dir, 'bundle', 'targets'), join(here, 'sidecar-targets.ts'));
  const base = { key: leaf.key, cert: leaf.cert, ca: ca.cert, dir, upstreamHttp: 0, upstreamHttps: 0, policies: [] as unknown[] };
  const upstream = await startRole(targetsScript, 'upstream', base);
  children.push(upstream.proc);
  const cfg = { ...base, upstreamHttp: upstream.ports.http!, upstreamHttps: upstream.ports.https! };
  const policyText = `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: to-api, namespace: bench }
spec:
  subjects: { serviceAccounts: [bench] }
  destinations: [{ host: api.bench, ports: [80, ${cfg.upstreamHttp}, ${cfg.upstreamHttps}], plaintext: true, allowPrivateAddresses: true, methods: [GET, POST], paths: ["/v1/*"] }]
  credential: { provider: { broker: { audience: bench } }, inject: { header: Authorization, format: "Bearer {{token}}" } }
`;
  cfg.policies = loadPolicies(policyText).map((p) => {
    if (!p.compiled) throw new Error(`bench policy invalid: ${JSON.stringify(p.errors)}`);
    return p.compiled;
  });
  const bare = await startRole(targetsScript, 'bare', cfg, POD_HEAP);
  children.push(bare.proc);
  const references: Array<{ name: string; child: Child }> = [];
  if (args.decompose) {
    for (const [role, name] of [['stream-relay', 'reference: stream relay, no HTTP library'], ['parser-front', "reference: the sidecar's HTTP/1 front + relay, no passes"], ['relay-only', 'reference: Node server + sidecar relay, no passes']] as const) {
      const child = await startRole(targetsScript, role, cfg, POD_HEAP);
      children.push(child.proc);
      references.push({ name, child });
    }
  }
  // The sidecar logs to its stdout, as in a pod, where stdout is a pipe that the
  // container runtime reads and writes to the node's log files: here a `cat`
  // outside the measured process plays the runtime.
  const logReader = spawn('cat', [], { stdio: ['pipe', openSync(join(dir, 'audit.log'), 'w'), 'inherit'] });
  children.push(logReader);
  const mayfly = await startRole(targetsScript, 'mayfly', cfg, POD_HEAP, POD_ENV, logReader.stdin!);
  children.push(mayfly.proc);
  const podCa = (await mayfly.ask<{ caPem: string }>('creds', 'caPem')).caPem;
  let before: Child | null = null;
  let beforeCa = '';
  if (args.before) {
    await mkdir(join(dir, 'b'), { recursive: true });
    // bundled like the current one; revisions before 761098a read the policy
    // YAML from a file, later ones take compiled policies as the current one does
    const beforeTargets = await exportRevision(args.before, dir);
    const takesYaml = (await readFile(beforeTargets, 'utf8')).includes('policies.yaml');
    before = await startRole(await bundle(join(dir, 'bundle', 'before'), beforeTargets), 'mayfly', { ...cfg, dir: join(dir, 'b'), policies: takesYaml ? policyText : cfg.policies }, POD_HEAP);
    children.push(before.proc);
    beforeCa = (await before.ask<{ caPem: string }>('creds', 'caPem')).caPem;
  }

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

  type Target = { name: string; http: number; https: number; ca: string; pids: () => number[] };
  const targets: Target[] = [
    { name: 'direct', http: cfg.upstreamHttp, https: cfg.upstreamHttps, ca: ca.cert, pids: () => [upstream.proc.pid!] },
    { name: 'bare Node proxy', http: bare.ports.http!, https: bare.ports.https!, ca: ca.cert, pids: () => [bare.proc.pid!] },
    { name: 'nginx', http: ngHttp, https: ngHttps, ca: ca.cert, pids: nginxPids },
    ...references.map((r) => ({ name: r.name, http: r.child.ports.http!, https: r.child.ports.https!, ca: ca.cert, pids: () => [r.child.proc.pid!] })),
    ...(before ? [{ name: `mayfly sidecar (before, ${args.before})`, http: before.ports.http!, https: before.ports.https!, ca: beforeCa, pids: () => [before!.proc.pid!] }] : []),
    { name: 'mayfly sidecar', http: mayfly.ports.http!, https: mayfly.ports.https!, ca: podCa, pids: () => [mayfly.proc.pid!] },
  ];
  // Idle cost: every Node proxy (and nginx) with no traffic at all, side by side.
  await new Promise((r) => setTimeout(r, 2000));
  const idle0 = targets.map((t) => procStats(t.pids()).cpuMs);
  if (!PAIRED_ONLY) await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
  const idle = targets.map((t, i) => ({ target: t.name, percent: ((procStats(t.pids()).cpuMs - idle0[i]!) / (IDLE_SECONDS * 1000)) * 100 }));
  if (!PAIRED_ONLY) process.stderr.write(`idle CPU: ${idle.map((x) => `${x.target} ${x.percent.toFixed(2)}%`).join(', ')}\n`);

  interface Row { target: string; proto: string; run: number; fixed: Load; sat: Load; cpuPer1k: number; warmupPer1k: number; kernel: number; rss: number; anon: number; hs?: Load }
  const rows: Row[] = [];
  for (let run = 1; run <= (PAIRED_ONLY ? 0 : RUNS); run++) {
    // each run starts one target further on, so no target always follows the
    // same one (the one before leaves the machine and the shared upstream in
    // its own state: a saturation run just ended, a GC due)
    const order = targets.map((_, i) => targets[(i + run - 1) % targets.length]!);
    for (const proto of ['plaintext', 'https'] as const) {
      for (const t of order) {
        const tls = proto === 'https';
        const port = tls ? t.https : t.http;
        const common = { port, tls, servername: 'api.bench', host: `api.bench:${tls ? cfg.upstreamHttps : cfg.upstreamHttp}`, ca: t.ca };
        await load({ ...common, mode: 'saturate', seconds: 1 }); // warm-up
        const start0 = procStats(t.pids());
        const startedAt = performance.now();
        let before0 = start0;
        let measuredAt = startedAt;
        const fixed = await load({ ...common, mode: 'fixed', warmup: FIXED_WARMUP_SECONDS, samples: true }, () => {
          before0 = procStats(t.pids());
          measuredAt = performance.now();
        });
        const after0 = procStats(t.pids());
        if (before0 === start0) throw new Error(`the load generator never began measuring (${t.name})`);
        const cpuPer1k = (after0.cpuMs - before0.cpuMs) / SECONDS / 1000 / (fixed.rps / 1000);
        // the warm-up's own CPU (the load generator starting and connecting included), for the record
        const warmupPer1k = (before0.cpuMs - start0.cpuMs) / (measuredAt - startedAt);
        const kernel = (after0.sysMs - before0.sysMs) / Math.max(1, after0.cpuMs - before0.cpuMs);
        const sat = await load({ ...common, mode: 'saturate', connections: 32 });
        const hs = tls ? await load({ ...common, mode: 'handshake', connections: 4, seconds: Math.max(2, Math.round(SECONDS / 2)) }) : undefined;
        const mem = procStats(t.pids());
        rows.push({ target: t.name, proto, run, fixed, sat, cpuPer1k, warmupPer1k, kernel, rss: mem.rss, anon: mem.anon, ...(hs ? { hs } : {}) });
        process.stderr.write(`run ${run} ${proto} ${t.name}: fixed p50 ${fixed.p50.toFixed(2)} p99 ${fixed.p99.toFixed(2)} ms, sat ${sat.rps.toFixed(0)} rps p99 ${sat.p99.toFixed(2)}, cpu/1k ${cpuPer1k.toFixed(3)} (kernel ${(kernel * 100).toFixed(0)}%; warm-up ${warmupPer1k.toFixed(3)}), rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB (anon ${(mem.anon / 2 ** 20).toFixed(0)})${hs ? `, handshakes ${hs.rps.toFixed(0)}/s` : ''}, errors ${fixed.errors + sat.errors}, load ${loadavg()[0]!.toFixed(1)}\n`);
      }
    }
  }

  // The added latency alone: the sidecar and the bare Node proxy at the fixed
  // rate in alternating blocks, on connections to both kept open (a first
  // saturating second warms each up when nothing ran before).
  interface Paired { proto: string; sidecar: number[][]; bare: number[][]; failures: [string[], string[]]; added: Interval; gc: [GcPause[], GcPause[]] }
  const paired: Paired[] = [];
  if (PAIRED_BLOCKS > 0) {
    const [sidecarT, bareT] = ['mayfly sidecar', 'bare Node proxy'].map((n) => targets.find((t) => t.name === n)!) as [Target, Target];
    for (const proto of ['plaintext', 'https'] as const) {
      const tls = proto === 'https';
      const end = (t: Target) => ({ port: tls ? t.https : t.http, tls, servername: 'api.bench', host: `api.bench:${tls ? cfg.upstreamHttps : cfg.upstreamHttp}`, ca: t.ca });
      if (PAIRED_ONLY) for (const t of [sidecarT, bareT]) await load({ ...end(t), mode: 'saturate', seconds: 1 });
      await Promise.all([mayfly, bare].map((c) => c.ask('gc', 'gc')));
      const r = await alternate({ targets: [end(sidecarT), end(bareT)], block: BLOCK_SECONDS, blocks: PAIRED_BLOCKS, warmup: FIXED_WARMUP_SECONDS });
      const gc = await Promise.all([mayfly, bare].map((c) => c.ask<{ gc: GcPause[] }>('gc', 'gc')));
      process.stderr.write(`alternating ${proto}, garbage collection over the turns: sidecar ${gcText(gc[0]!.gc)}; bare ${gcText(gc[1]!.gc)}\n`);
      const d = pooledDifference(r.blocks[0], r.blocks[1], 99);
      paired.push({ proto, sidecar: r.blocks[0], bare: r.blocks[1], failures: r.failures, added: d, gc: [gc[0]!.gc, gc[1]!.gc] });
      process.stderr.write(`alternating ${proto}: ${PAIRED_BLOCKS} turns of ${BLOCK_SECONDS} s each; pooled p99 sidecar ${d.a.toFixed(2)}, bare ${d.b.toFixed(2)}, added ${d.estimate.toFixed(2)} [${d.low.toFixed(2)}, ${d.high.toFixed(2)}], failed requests: sidecar ${failedText(r.failures[0])}, bare ${failedText(r.failures[1])}; load ${loadavg()[0]!.toFixed(1)}\n`);
    }
  }
  const pairedLines = (): string[] => {
    if (paired.length === 0) return [];
    const f2 = (n: number) => n.toFixed(2);
    const out = [
      `Added latency, in alternating turns: the sidecar and the bare Node proxy alone, each at the fixed 1000 req/s on its own 16 keep-alive connections, in turns of ${BLOCK_SECONDS} s (sidecar, bare, bare, sidecar, ...; ${PAIRED_BLOCKS} turns each per protocol, ${PAIRED_BLOCKS * BLOCK_SECONDS} s, after ${FIXED_WARMUP_SECONDS} s at the rate for each that are not counted), from one load generator that keeps the connections to both open throughout. Adjacent turns meet the machine in nearly the same state, so a stall of the machine falls on both alike and the difference is the sidecar's. Percentiles pool every turn; the interval is a 90% bootstrap over the pairs of turns (each pair drawn whole, 1000 times).`,
      '',
      '| proto | sidecar p50 (ms) | bare p50 (ms) | sidecar p99 | bare p99 | added p99 (ms) [90%] | sidecar p99.9 | bare p99.9 | turns where the sidecar\'s p99 was above | failed requests: sidecar | bare |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
    ];
    for (const r of paired) {
      const d = r.added;
      const above = r.sidecar.filter((s, i) => percentile(s, 99) > percentile(r.bare[i]!, 99)).length;
      out.push(`| ${r.proto} | ${f2(pooledPercentile(r.sidecar, 50))} | ${f2(pooledPercentile(r.bare, 50))} | ${f2(d.a)} | ${f2(d.b)} | ${f2(d.estimate)} [${f2(d.low)}, ${f2(d.high)}] | ${f2(pooledPercentile(r.sidecar, 99.9))} | ${f2(pooledPercentile(r.bare, 99.9))} | ${above} of ${r.sidecar.length} | ${failedText(r.failures[0])} | ${failedText(r.failures[1])} |`);
    }
    out.push('', `Garbage-collection pauses in each process over those turns and their warm-up (kind: count, total, largest; from its \`gc\` performance entries): ${paired.map((r) => `${r.proto}: sidecar ${gcText(r.gc[0])}; bare ${gcText(r.gc[1])}`).join('. ')}.`);
    return [...out, ''];
  };
  if (PAIRED_ONLY) {
    process.stdout.write(`${pairedLines().join('\n')}\n`);
  } else {
    const info = await mayfly.ask<{ creds: { hits: number; misses: number; refreshes: number; failures: number; exchanges: number }; leaves: { minted: number } }>('creds', 'creds');
    const load1 = loadavg();

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
    const of = (target: string, proto: string) => rows.filter((r) => r.target === target && r.proto === proto);
    /** "median (min-max)" over the runs. */
    const spread = (xs: number[], d = 2) => (xs.length === 1 ? f(xs[0]!, d) : `${f(median(xs), d)} (${f(Math.min(...xs), d)}-${f(Math.max(...xs), d)})`);
    const col = (target: string, proto: string, pick: (r: Row) => number, d = 2) => spread(of(target, proto).map(pick), d);
    const perRun = (a: string, b: string, proto: string, pick: (x: Row, y: Row) => number) => of(a, proto).map((x) => pick(x, of(b, proto).find((y) => y.run === x.run)!));
    const MiB = 2 ** 20;
    const samplesOf = (target: string, proto: string): number[][] => of(target, proto).map((r) => r.fixed.samples ?? []);
    /** The pooled added p99 against the bare Node proxy, with its bootstrap interval over the runs (e2e/bench/stats.ts). */
    const pooledAdded = (target: string, proto: string): string => {
      const d = pooledDifference(samplesOf(target, proto), samplesOf('bare Node proxy', proto), 99);
      const interval = Number.isNaN(d.low) ? '' : ` [${f(d.low)}, ${f(d.high)}]`;
      return `${f(d.estimate)}${interval} (${f(d.a)} against ${f(d.b)})`;
    };

    const lines: string[] = [];
    lines.push('## Sidecar data plane', '');
    lines.push(`Measured by \`node e2e/bench/sidecar.ts --seconds ${SECONDS} --runs ${RUNS}${args.before ? ` --before ${args.before}` : ''}${args.decompose ? ' --decompose' : ''}${args.unconstrained ? ' --unconstrained' : ''} --paired-seconds ${PAIRED_BLOCKS * BLOCK_SECONDS}\` (part of \`make bench\`) on ${new Date().toISOString().slice(0, 10)}: all on one machine (2 vCPU, shared with other work: load average ${f(load0[0]!, 1)} at the start, ${f(load1[0]!, 1)} at the end; loopback), a Node load generator (keep-alive, 16 connections at a fixed 1000 req/s with latency from the intended send time, 32 connections at saturation, 4 clients opening a new TLS connection per request for handshakes). Every proxy adds \`Authorization: Bearer ...\` to a GET; "https" means the client speaks TLS to the proxy and the proxy speaks verified TLS to the upstream (for Mayfly: interception with a leaf from the pod CA). The whole measurement ran ${RUNS} times with the targets interleaved, each run starting one target further on (so no target always follows the same one); each cell is the median over the runs with the range in brackets. Each fixed-rate run begins with ${FIXED_WARMUP_SECONDS} s at the same rate on the same connections that are not counted (connecting, and the switch from the saturating warm-up, settle there; the CPU of that part is listed under the tables); latency and CPU are taken over the ${SECONDS} s that follow. CPU is the proxy process's own CPU time (from /proc) over those seconds, per 1000 req/s (1.0 = one full core); "kernel" is the part of it spent in the kernel (on loopback, a send also runs the receiver's TCP processing). RSS is taken after the saturation and handshake runs; "anon" is its anonymous part (without the mapped node binary and libraries, which are file-backed and shared). ${POD_HEAP.length ? `Both Node proxies run with \`${POD_HEAP.join(' ')}\`: what Node 24 sizes V8's heap to inside the sidecar container's 256Mi memory limit (the webhook's and the chart's default), so the numbers are the pod's.` : 'The Node proxies run with V8\'s default heap sizing (no memory limit), unlike in a pod.'} ${JEMALLOC ? `The sidecar runs on jemalloc (\`MALLOC_CONF=${POD_ENV.MALLOC_CONF}\`), as the image runs it; the bare Node proxy${args.before ? ' and the earlier revision run' : ' runs'} on glibc's malloc.` : 'Every Node process runs on glibc\'s malloc (libjemalloc2 is not installed, so the sidecar does not run on jemalloc as in the image).'} The sidecar's credential source is the cluster's credential cache in front of a provider that counts exchanges, with 60 s credentials so refresh-ahead runs during the benchmark. Absolute numbers move with the machine's load; the ratios against the bare Node proxy measured in the same run are the point.`, '');
    lines.push('| proto | target | p50 @1000/s (ms) | p99 @1000/s (ms) | saturation (req/s) | p99 at saturation (ms) | CPU per 1000 req/s (vCPU) | kernel | RSS (MiB) | anon (MiB) | new TLS handshakes/s |');
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const proto of ['plaintext', 'https'])
      for (const t of targets) {
        const rs = of(t.name, proto);
        lines.push(`| ${proto} | ${t.name} | ${col(t.name, proto, (r) => r.fixed.p50)} | ${col(t.name, proto, (r) => r.fixed.p99)} | ${col(t.name, proto, (r) => r.sat.rps, 0)} | ${col(t.name, proto, (r) => r.sat.p99)} | ${t.name === 'direct' ? '(upstream)' : col(t.name, proto, (r) => r.cpuPer1k, 3)} | ${t.name === 'direct' ? '' : `${f(median(of(t.name, proto).map((r) => r.kernel * 100)), 0)}%`} | ${col(t.name, proto, (r) => r.rss / MiB, 0)} | ${col(t.name, proto, (r) => r.anon / MiB, 0)} | ${rs[0]?.hs ? col(t.name, proto, (r) => r.hs!.rps, 0) : ''} |`);
      }
    const mayflyTargets = targets.filter((t) => t.name.startsWith('mayfly'));
    lines.push('', "The sidecar against the bare Node pass-through proxy, ratios taken within each run (targets: throughput at least 0.80, added p99 at 1000 req/s under 1 ms; intercepted HTTPS at most 0.25 vCPU per 1000 req/s and under 100 MiB RSS). *Runs pooled* is the p99 of all runs' fixed-rate latencies taken together, the sidecar's minus the bare Node proxy's: a stall of the machine in one run moves it less than it moves that run's p99. In square brackets, its 90% bootstrap interval: the runs resampled with replacement 1000 times, each run's sidecar and bare-proxy latencies drawn together.", '');
    lines.push('| proto | sidecar | throughput ratio | added p99 @1000/s (ms) | added p99, runs pooled (ms) | CPU ratio | vs nginx throughput | CPU per 1000 req/s | RSS (MiB) |', '|---|---|---|---|---|---|---|---|---|');
    for (const proto of ['plaintext', 'https'])
      for (const m of mayflyTargets) {
        lines.push(`| ${proto} | ${m.name} | ${spread(perRun(m.name, 'bare Node proxy', proto, (x, y) => x.sat.rps / y.sat.rps))} | ${spread(perRun(m.name, 'bare Node proxy', proto, (x, y) => x.fixed.p99 - y.fixed.p99))} | ${pooledAdded(m.name, proto)} | ${spread(perRun(m.name, 'bare Node proxy', proto, (x, y) => x.cpuPer1k / y.cpuPer1k))} | ${spread(perRun(m.name, 'nginx', proto, (x, y) => x.sat.rps / y.sat.rps))} | ${col(m.name, proto, (r) => r.cpuPer1k, 3)} | ${col(m.name, proto, (r) => r.rss / MiB, 0)} |`);
      }
    lines.push('', ...pairedLines());
    lines.push(`CPU in the uncounted start of each fixed-rate run (the load generator starting and connecting, then ${FIXED_WARMUP_SECONDS} s at 1000 req/s), vCPU, median (range): ${['plaintext', 'https'].map((proto) => `${proto}: ${targets.filter((t) => t.name !== 'direct').map((t) => `${t.name} ${col(t.name, proto, (r) => r.warmupPer1k, 3)}`).join(', ')}`).join('; ')}.`);
    lines.push('', `Idle (no traffic, ${IDLE_SECONDS} s, before the runs): ${idle.filter((x) => x.target !== 'direct').map((x) => `${x.target} ${f(x.percent)}% of a core`).join(', ')}.`);
    lines.push('', `Leaf mint (ECDSA P-256 key + certificate from the pod CA): p50 ${f(mints[50]!)} ms, p99 ${f(mints[98]!)} ms over 100 names. Leaves minted by the sidecar during the whole run: ${info.leaves.minted} (one per host; every later handshake reuses it).`);
    lines.push(`Credentials: ${info.creds.exchanges} exchanges with the provider during the whole run (the pre-warm when the policy arrived, then refresh-ahead before each 60 s credential expired), ${info.creds.hits} cache hits and ${info.creds.misses} misses on the request path, ${info.creds.failures} failures: no request waited for a credential fetch.`, '');
    const section = `${lines.join('\n')}\n`;
    process.stdout.write(section);
    if (WRITE) {
      const docPath = join(root, 'docs', 'benchmarks.md');
      const doc = existsSync(docPath) ? await readFile(docPath, 'utf8') : '# Benchmarks\n\n';
      const start = doc.indexOf('## Sidecar data plane');
      let next = start < 0 ? -1 : doc.indexOf('\n## ', start + 5);
      if (next >= 0) next += 1;
      // hand-written notes under the table start with "**" and are kept
      const old = start < 0 ? '' : doc.slice(start, next >= 0 ? next : undefined);
      const notes = old.indexOf('\n**') >= 0 ? old.slice(old.indexOf('\n**') + 1).trimEnd() + '\n' : '';
      const body = `${section}${notes ? `\n${notes}` : ''}`;
      const updated = start < 0 ? `${doc.trimEnd()}\n\n${body}` : `${doc.slice(0, start)}${body}${next >= 0 ? `\n${doc.slice(next)}` : ''}`;
      await writeFile(docPath, updated);
    }
  }
} finally {
  nginx?.kill('SIGTERM');
  for (const c of children) c.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 300));
  await rm(dir, { recursive: true, force: true });
}
