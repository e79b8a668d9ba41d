// The sidecar in real network namespaces: a "pod" namespace with the capture
// rules `mayfly init` wrote, the sidecar under its own UID, an "upstream"
// namespace with real HTTP and HTTPS servers, and unmodified clients (curl,
// python3 urllib, Node fetch) as the app, changed only by trust-store variables.
import t from 'tap';
import http from 'node:http';
import { mkdtemp, writeFile, readFile, chmod, chown, mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTopology, netnsAvailable, type Topology } from '../src/netns.ts';
import { createTestCa } from '../../sidecar/test/helpers/pki.ts';

const SIDECAR_UID = 1337;
const APP_UID = 1000;
const ROOT = '/work/main';
const SECRET = 'sk_test_SECRET_4242';

if (!(await netnsAvailable())) {
  t.plan(0, 'needs root, ip, setpriv and iptables');
  process.exit(0);
}

const dir = await mkdtemp(join(tmpdir(), 'mayfly-netns-'));
await chmod(dir, 0o755);
const ca = await createTestCa();
const names = ['api.test', 'api6.test', 'other.test', 'audit.test', 'meta.test', 'private.test', 'plain.test'];
const leaf = await ca.issue(names);
await writeFile(join(dir, 'up.key'), leaf.key);
await writeFile(join(dir, 'up.crt'), leaf.cert);
const trustDir = join(dir, 'trust');
await mkdir(trustDir);
await chown(trustDir, SIDECAR_UID, SIDECAR_UID);

const dest = (host: string, extra: Record<string, unknown> = {}) => ({ host, caBundle: ca.cert, ...extra });
const policy = (name: string, destinations: unknown[], mode = 'Enforce') => ({
  apiVersion: 'mayfly.dev/v1alpha1',
  kind: 'WorkloadPolicy',
  metadata: { name, namespace: 'shop' },
  spec: { mode, subjects: { serviceAccounts: ['web'] }, destinations, credential: { provider: { broker: { audience: 'api' } }, inject: { header: 'Authorization', format: 'Bearer {{token}}' } } },
});
const config = {
  identity: { namespace: 'shop', name: 'web-0', uid: 'uid-web-0', serviceAccount: 'web', labels: { app: 'web' }, images: ['ghcr.io/acme/web:1'] },
  trustDir,
  listeners: { admin: { port: 15021, address: '127.0.0.1' } },
  logLevel: 'info',
  policies: [
    policy('to-api', [dest('api.test', { paths: ['/v1/*'], methods: ['GET', 'POST'] }), dest('api6.test')]),
    policy('audit', [dest('audit.test', { paths: ['/v1/*'] })], 'Audit'),
    policy('meta', [dest('meta.test', { allowPrivateAddresses: true }), dest('private.test')]),
    policy('plain', [dest('plain.test', { ports: [80] })]),
  ],
  credentials: { 'shop/to-api': { value: SECRET, expiresIn: '1h' }, 'shop/meta': { value: SECRET }, 'shop/plain': { value: SECRET }, 'shop/audit': { value: SECRET } },
};
const configPath = join(dir, 'sidecar.yaml');
await writeFile(configPath, JSON.stringify(config, null, 2));

const topo: Topology = await createTopology({ pod: { v4: ['203.0.113.1/24', '10.77.0.1/24'], v6: ['2001:db8:1::1/64'] }, upstream: { v4: ['203.0.113.2/24', '10.77.0.2/24'], v6: ['2001:db8:1::2/64'] } });
t.teardown(async () => {
  await topo.teardown();
  await rm(dir, { recursive: true, force: true });
});
await topo.pod.setHosts([
  ['203.0.113.2', 'api.test'],
  ['2001:db8:1::2', 'api6.test'],
  ['203.0.113.2', 'other.test'],
  ['203.0.113.2', 'audit.test'],
  ['203.0.113.2', 'plain.test'],
  ['169.254.169.254', 'meta.test'],
  ['10.77.0.2', 'private.test'],
]);

const control = join(dir, 'upstream.sock');
const upstreamProc = topo.upstream.spawn(['node', `${ROOT}/sidecar/test/helpers/netns-upstream.ts`, join(dir, 'up.key'), join(dir, 'up.crt'), control]);
await new Promise<void>((resolve, reject) => {
  upstreamProc.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
  upstreamProc.on('exit', (c) => reject(new Error(`upstream exited ${c}`)));
});

interface Seen {
  received: Array<{ scheme: string; method: string; url: string; headers: Record<string, string>; family: string }>;
  udp: Array<{ port: number; bytes: number }>;
}
const upstream = (path = '/received') =>
  new Promise<Seen>((resolve, reject) => {
    http.get({ socketPath: control, path }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(JSON.parse(body) as Seen));
    }).on('error', reject);
  });

const initRun = await topo.pod.exec(['node', `${ROOT}/cli/src/main.ts`, 'init', '--exclude-cidrs=10.96.0.1']);
let sidecarLog = '';
const sidecar = topo.pod.spawn(['node', `${ROOT}/cli/src/main.ts`, 'sidecar', '--config', configPath], { uid: SIDECAR_UID });
sidecar.stdout?.on('data', (d: Buffer) => (sidecarLog += d.toString()));
sidecar.stderr?.on('data', (d: Buffer) => (sidecarLog += d.toString()));
const sidecarExit = new Promise<number | null>((r) => sidecar.on('exit', (c) => r(c)));
let ready = '';
for (let i = 0; i < 150 && !ready.includes('"ready":true'); i++) {
  await new Promise((r) => setTimeout(r, 100));
  ready = (await topo.pod.exec(['curl', '-s', 'http://127.0.0.1:15021/readyz'])).stdout;
}

const bundle = await readFile(join(trustDir, 'bundle.crt'), 'utf8').catch(() => '');
// The app trusts the system roots + pod CA (bundle.crt); the test upstream's CA stands in for a public root.
await writeFile(join(dir, 'app-bundle.crt'), bundle + ca.cert);
await writeFile(join(dir, 'app-extra.crt'), (await readFile(join(trustDir, 'ca.crt'), 'utf8').catch(() => '')) + ca.cert);
t.test('mayfly init writes the capture rules in the pod namespace', async (t) => {
  const r = initRun;
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /-A MAYFLY_OUTPUT -p tcp --dport 443 -j REDIRECT --to-ports 15002/);
  const again = await topo.pod.exec(['node', `${ROOT}/cli/src/main.ts`, 'init', '--exclude-cidrs=10.96.0.1']);
  t.equal(again.code, 0);
  const saved = await topo.pod.exec(['iptables-save', '-t', 'nat']);
  t.equal(saved.code, 0, saved.stderr);
  t.equal(saved.stdout.split('\n').filter((l) => l === '-A OUTPUT -p tcp -j MAYFLY_OUTPUT').length, 1, 'idempotent: one jump after two runs');
  const v6 = await topo.pod.exec(['ip6tables-save', '-t', 'nat']);
  t.match(v6.stdout, /--dport 443 -j REDIRECT --to-ports 15002/);
});

t.test('the sidecar becomes ready under its own UID', async (t) => {
  t.match(ready, /"ready":true/, sidecarLog);
  const ps = await topo.pod.exec(['sh', '-c', 'ps -eo uid,args | grep "main.ts sidecar" | grep -v grep']);
  t.match(ps.stdout, new RegExp(`^\\s*${SIDECAR_UID}\\s`, 'm'), 'runs as the sidecar uid');
});

const appEnv = { SSL_CERT_FILE: join(dir, 'app-bundle.crt'), CURL_CA_BUNDLE: join(dir, 'app-bundle.crt'), REQUESTS_CA_BUNDLE: join(dir, 'app-bundle.crt'), NODE_EXTRA_CA_CERTS: join(dir, 'app-extra.crt'), HOME: '/tmp' };
const app = (cmd: string[]) => topo.pod.exec(cmd, { uid: APP_UID, env: appEnv, timeoutMs: 20_000 });
const curl = (url: string, ...args: string[]) => app(['curl', '-sS', '-v', '--max-time', '10', '-w', '\n%{http_code}', ...args, url]);
const code = (out: string) => Number(out.trim().split('\n').at(-1));

t.test('a policy host receives the injected credential over HTTPS (curl, python, node)', async (t) => {
  await upstream('/reset');
  const c = await curl('https://api.test/v1/charges', '-H', 'Authorization: Bearer app-supplied');
  t.equal(code(c.stdout), 200, c.stderr);
  t.match(c.stderr, /issuer: .*Mayfly pod CA/, 'curl saw a leaf from the pod CA');
  const py = await app(['/usr/bin/python3', '-c', 'import urllib.request,sys; r=urllib.request.urlopen(sys.argv[1]); print(r.status)', 'https://api.test/v1/py']);
  t.equal(py.stdout.trim(), '200', py.stderr);
  const node = await app(['node', '-e', 'fetch(process.argv[1]).then(r=>console.log(r.status), e=>{console.error(e.cause??e);process.exit(1)})', 'https://api.test/v1/node']);
  t.equal(node.stdout.trim(), '200', node.stderr);
  const seen = await upstream();
  t.same(seen.received.map((r) => r.url), ['/v1/charges', '/v1/py', '/v1/node']);
  for (const r of seen.received) t.equal(r.headers.authorization, `Bearer ${SECRET}`, `${r.url} carried exactly the sidecar's credential`);
});

t.test('a non-policy HTTPS host is passed through with its own certificate', async (t) => {
  await upstream('/reset');
  const c = await curl('https://other.test/x', '-H', 'Authorization: Bearer app-own');
  t.equal(code(c.stdout), 200, c.stderr);
  t.match(c.stderr, /issuer: .*Mayfly test upstream CA/, 'the client saw the upstream certificate');
  const seen = await upstream();
  t.equal(seen.received[0]?.headers.authorization, 'Bearer app-own', 'untouched');
});

t.test('a denied request gets a clear error and the upstream sees nothing', async (t) => {
  await upstream('/reset');
  const c = await curl('https://api.test/admin');
  t.equal(code(c.stdout), 403);
  t.match(c.stdout, /request denied: the policy does not allow this path \(policy shop\/to-api\)/);
  const plain = await curl('http://plain.test/');
  t.equal(code(plain.stdout), 403, 'no credential on plain HTTP');
  t.equal((await upstream()).received.length, 0);
});

t.test('Audit mode forwards and logs would deny', async (t) => {
  await upstream('/reset');
  const c = await curl('https://audit.test/admin');
  t.equal(code(c.stdout), 200);
  const seen = await upstream();
  t.equal(seen.received.length, 1);
  t.notOk(seen.received[0]?.headers.authorization, 'no credential in Audit mode');
  await new Promise((r) => setTimeout(r, 200));
  t.match(sidecarLog, /"decision":"audit".*"wouldDeny":true.*"msg":"would deny"/);
  t.notOk(sidecarLog.includes(SECRET), 'the credential never appears in the log');
});

t.test('IPv6 is captured like IPv4', async (t) => {
  await upstream('/reset');
  const c = await curl('https://api6.test/v6', '-6');
  t.equal(code(c.stdout), 200, c.stderr);
  const seen = await upstream();
  t.equal(seen.received[0]?.headers.authorization, `Bearer ${SECRET}`);
  t.match(seen.received[0]?.family ?? '', /IPv6/, 'the sidecar reached the upstream over IPv6');
});

t.test('QUIC (UDP 443) is dropped; other UDP is not', async (t) => {
  await upstream('/reset');
  // A locally generated packet dropped in OUTPUT fails at once with EPERM, so QUIC clients fall back fast.
  const send = `import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in (8443, 443):
    try:
        s.sendto(b'x' * 1200, ('203.0.113.2', p)); print(p, 'sent')
    except OSError as e:
        print(p, 'refused', e.errno)`;
  const r = await app(['/usr/bin/python3', '-c', send]);
  t.match(r.stdout, /8443 sent\n443 refused 1/, r.stderr);
  await new Promise((r) => setTimeout(r, 300));
  const seen = await upstream();
  t.same(seen.udp.map((u) => u.port), [8443]);
});

t.test('metadata and private addresses are refused with real resolution', async (t) => {
  await upstream('/reset');
  const meta = await curl('https://meta.test/latest/meta-data/');
  t.equal(code(meta.stdout), 403);
  t.match(meta.stdout, /link-local/);
  const priv = await curl('https://private.test/');
  t.equal(code(priv.stdout), 403);
  t.match(priv.stdout, /private/);
  t.equal((await upstream()).received.length, 0);
});

t.test('SIGTERM drains and exits 0', async (t) => {
  await topo.pod.exec(['kill', '-TERM', String(sidecar.pid)]);
  // `ip netns exec` forwards nothing: signal the node process itself
  const pids = await topo.pod.exec(['sh', '-c', "pgrep -f 'main.ts sidecar' || true"]);
  for (const pid of pids.stdout.split('\n').filter(Boolean)) await topo.pod.exec(['kill', '-TERM', pid]);
  t.equal(await sidecarExit, 0);
  t.match(sidecarLog, /sidecar stopped/);
  upstreamProc.kill('SIGTERM');
});
