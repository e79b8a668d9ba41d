// The pod CA is replaced before it expires, and an app that read the trust
// files once, when it started, keeps trusting the sidecar's leaves: the next CA
// is published a third of its lifetime before it signs. A 9-second CA lifetime
// makes the rotation (every third of it) happen during the test.
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import tls from 'node:tls';
import { startHarness, rawExchange } from './helpers/harness.ts';
import { startUpstream } from './helpers/upstream.ts';
import { createTestCa } from './helpers/pki.ts';

const ca = await createTestCa();
const up = await startUpstream(await ca.issue(['api.example.com']));
const h = await startHarness({
  policies: `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: to-api, namespace: payments }
spec:
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: api.example.com, ports: [${up.port}] }]
  credential: { provider: { broker: { audience: x } }, inject: { header: Authorization, format: "Bearer {{token}}" } }
`,
  captures: [up.port],
  credentials: { 'payments/to-api': { value: 'SECRET', id: 'c1' } },
  upstreamCa: [ca.cert],
  names: { 'api.example.com': '203.0.113.10' },
  ca: { lifetimeMs: 9000, leafLifetimeMs: 9000 },
});
t.teardown(async () => {
  await h.close();
  await up.close();
});

const certs = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
/** The issuer of the leaf the sidecar presents, checked against `bundle` as an app would. */
function leafIssuer(bundle: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port: h.port(up.port), servername: 'api.example.com', ca: bundle }, () => {
      const issuer = s.getPeerX509Certificate()?.issuer ?? '';
      s.end();
      resolve(issuer);
    });
    s.on('error', reject);
  });
}
const get = 'GET /v1/x HTTP/1.1\r\nHost: api.example.com\r\nConnection: close\r\n\r\n';

const atStart = await readFile(join(h.dir, 'trust', 'ca.crt'), 'utf8');
const first = h.sidecar.ca()!;

t.test('at start the trust files hold the signing CA and the next one', async (t) => {
  const pems = certs(atStart);
  t.equal(pems.length, 2);
  t.equal(pems[0], first.certPem);
  t.not(new X509Certificate(pems[1]!).subject, new X509Certificate(pems[0]!).subject, 'two CAs, each with its own name');
  t.match(await rawExchange(h.port(up.port), get, { servername: 'api.example.com', ca: atStart, waitMs: 400 }), /^HTTP\/1\.1 200/);
});

t.test('before it expires the CA is replaced by the one already published', async (t) => {
  const deadline = Date.now() + 6000;
  while (h.sidecar.ca() === first && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const second = h.sidecar.ca()!;
  t.not(second, first, 'rotated');
  t.ok(Date.now() < first.notAfter, 'before the first CA expired');
  t.equal(second.certPem, certs(atStart)[1], 'the new signing CA is the one published at start');
  const now = certs(await readFile(join(h.dir, 'trust', 'ca.crt'), 'utf8'));
  t.same(now.slice(0, 2), [first.certPem, second.certPem], 'the previous CA stays trusted, then the signing one');
  t.equal(now.length, 3, 'and a new next CA is published');
  // an app that read the bundle only at start still trusts the new leaves
  t.equal(await leafIssuer(atStart), new X509Certificate(second.certPem).subject);
  t.match(await rawExchange(h.port(up.port), get, { servername: 'api.example.com', ca: atStart, waitMs: 400 }), /^HTTP\/1\.1 200/);
  t.ok(h.logs.some((l) => l.msg === 'pod ca ready' && /signed for a third of its lifetime/.test(String(l.why))));
});
