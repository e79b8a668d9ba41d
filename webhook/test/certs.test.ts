// Serving certificates: the self-signed CA and serving certificate, their
// renewal with a fake clock, the CA rollover with overlap, several replicas
// sharing one CA, a real TLS handshake against the bundle, and cert files
// (cert-manager mode) reloaded when they change.
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pino } from 'pino';
import { buildWebhookServer, createLogger, FileCertificates, SelfSignedCertificates, type CaMaterial, type CaStore, type CertificatePair, type Timers } from '@mayfly/webhook';
import { serialNumber } from '../src/certs.ts';
import { GOLDEN_SETTINGS } from './golden.ts';
import { httpsRequest, testPki } from './tls-helpers.ts';

const DAY = 86_400_000;

/** The CaStore seam in memory; the Secret-backed store runs in the e2e test. */
function memoryStore(): CaStore & { saved: CaMaterial[]; value?: CaMaterial } {
  const s: CaStore & { saved: CaMaterial[]; value?: CaMaterial } = {
    saved: [],
    load: async () => s.value,
    save: async (ca, replacing) => {
      if (s.value && s.value.cert !== replacing?.cert) return s.value;
      s.value = ca;
      s.saved.push(ca);
      return ca;
    },
  };
  return s;
}

function fakeTimers(start: Date): Timers & { set(d: Date): void; pending: Array<{ at: number; fn: () => void }> } {
  let now = start.getTime();
  const pending: Array<{ at: number; fn: () => void }> = [];
  return {
    pending,
    now: () => new Date(now),
    set: (d) => { now = d.getTime(); },
    after: (ms, fn) => {
      const entry = { at: now + ms, fn };
      pending.push(entry);
      return () => { pending.splice(pending.indexOf(entry), 1); };
    },
  };
}

const verifies = (leaf: string, ca: string) => new X509Certificate(leaf).verify(new X509Certificate(ca).publicKey);

t.test('creates a CA once, issues a serving certificate it signs, publishes the bundle', async (t) => {
  const store = memoryStore();
  const timers = fakeTimers(new Date('2026-01-01T00:00:00Z'));
  const certs: CertificatePair[] = [];
  const bundles: string[] = [];
  const m = new SelfSignedCertificates({ store, dnsNames: ['mayfly-webhook.mayfly-system.svc'], timers, onCertificate: (p) => certs.push(p), onCaBundle: async (b) => { bundles.push(b); } });
  const first = await m.start();
  t.equal(store.saved.length, 1, 'one CA saved');
  t.equal(certs.length, 1);
  t.ok(verifies(first.cert, store.value!.cert), 'the serving cert is signed by the stored CA');
  const x = new X509Certificate(first.cert);
  t.match(x.subjectAltName, /DNS:mayfly-webhook.mayfly-system.svc/);
  t.equal(x.ca, false);
  t.ok(new X509Certificate(store.value!.cert).ca);
  t.same(bundles, [`${store.value!.cert.trim()}\n`]);
  t.equal(timers.pending.length, 1, 'a renewal is scheduled');

  await m.refresh();
  t.equal(certs.length, 1, 'no new certificate before it is due');
  t.equal(bundles.length, 1, 'the bundle is not rewritten when unchanged');
  m.stop();
  t.equal(timers.pending.length, 0);
});

t.test('renews the serving certificate at two thirds of its life, before it expires', async (t) => {
  const store = memoryStore();
  const start = new Date('2026-01-01T00:00:00Z');
  const timers = fakeTimers(start);
  const certs: CertificatePair[] = [];
  const m = new SelfSignedCertificates({ store, dnsNames: ['w'], timers, servingDays: 90, onCertificate: (p) => certs.push(p), recheckMs: 100 * DAY });
  await m.start();
  const due = timers.pending[0]!.at;
  t.ok(due > start.getTime() + 59 * DAY && due < start.getTime() + 61 * DAY, 'scheduled at about day 60 of 90');
  timers.set(new Date(due));
  await m.refresh();
  t.equal(certs.length, 2);
  t.not(new X509Certificate(certs[1]!.cert).serialNumber, new X509Certificate(certs[0]!.cert).serialNumber);
  t.ok(new Date(new X509Certificate(certs[1]!.cert).validTo).getTime() > due + 80 * DAY);
  m.stop();
});

t.test('rolls the CA over at 80% of its life and trusts both CAs meanwhile', async (t) => {
  const store = memoryStore();
  const start = new Date('2026-01-01T00:00:00Z');
  const timers = fakeTimers(start);
  const bundles: string[] = [];
  const certs: CertificatePair[] = [];
  const m = new SelfSignedCertificates({ store, dnsNames: ['w'], timers, caDays: 100, servingDays: 10, onCertificate: (p) => certs.push(p), onCaBundle: async (b) => { bundles.push(b); } });
  await m.start();
  const oldCa = store.value!.cert;
  timers.set(new Date(start.getTime() + 81 * DAY));
  await m.refresh();
  t.not(store.value!.cert, oldCa, 'a new CA');
  t.equal(store.value!.previous, oldCa, 'the old CA is kept as previous');
  t.equal(bundles.length, 2);
  t.ok(bundles[1]!.includes(store.value!.cert.trim()) && bundles[1]!.includes(oldCa.trim()), 'the bundle holds both');
  t.ok(verifies(certs.at(-1)!.cert, store.value!.cert), 'serving cert from the new CA');
  timers.set(new Date(start.getTime() + 101 * DAY));
  await m.refresh();
  t.equal(bundles.at(-1), `${store.value!.cert.trim()}\n`, 'once the old CA expired it leaves the bundle');
  m.stop();
});

t.test('replicas sharing the store use one CA', async (t) => {
  const store = memoryStore();
  const timers = fakeTimers(new Date('2026-01-01T00:00:00Z'));
  const a = new SelfSignedCertificates({ store, dnsNames: ['w'], timers, onCertificate: () => {} });
  const b = new SelfSignedCertificates({ store, dnsNames: ['w'], timers, onCertificate: () => {} });
  const [ca, cb] = await Promise.all([a.start(), b.start()]);
  t.equal(store.saved.length, 1, 'only one CA was saved');
  t.ok(verifies(ca.cert, store.value!.cert) && verifies(cb.cert, store.value!.cert));
  a.stop();
  b.stop();
});

t.test('a real TLS client trusting the bundle reaches the server across a renewal', async (t) => {
  const store = memoryStore();
  let bundle = '';
  let swap: (p: CertificatePair) => void = () => {};
  const m = new SelfSignedCertificates({ store, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], onCertificate: (p) => swap(p), onCaBundle: async (b) => { bundle = b; } });
  const first = await m.start();
  const server = buildWebhookServer({ settings: GOLDEN_SETTINGS }, { certificate: first, policiesFor: () => [], logger: createLogger('silent', pino.destination('/dev/null')) });
  swap = server.setCertificate;
  await server.app.listen({ port: 0, host: '127.0.0.1' });
  t.teardown(() => { m.stop(); return server.app.close(); });
  const url = `https://127.0.0.1:${(server.app.server.address() as { port: number }).port}/healthz`;
  const before = await httpsRequest(url, bundle);
  t.equal(before.status, 200);
  // Another issuance from the same stored CA (what a renewal does), swapped into the running server.
  const due = new SelfSignedCertificates({ store, dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], onCertificate: (p) => swap(p) });
  await due.start();
  due.stop();
  const after = await httpsRequest(url, bundle);
  t.equal(after.status, 200, 'the same bundle verifies the renewed certificate');
  t.not(after.serial, before.serial, 'a new certificate is being served, without a restart');
});

t.test('cert files are reloaded when they change; a mismatched pair is ignored', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'mayfly-certs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const a = testPki().serving;
  const b = testPki().serving;
  writeFileSync(join(dir, 'tls.crt'), a.cert);
  writeFileSync(join(dir, 'tls.key'), a.key);
  const seen: CertificatePair[] = [];
  const errors: unknown[] = [];
  const files = new FileCertificates({ certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key'), onCertificate: (p) => seen.push(p), onError: (e) => errors.push(e), pollMs: 1000 });
  const first = await files.start();
  t.teardown(() => files.stop());
  t.equal(first.cert, a.cert);

  // Half a rotation: a new cert with the old key is not used.
  writeFileSync(join(dir, 'tls.crt'), b.cert);
  t.equal(await files.check(), false);
  t.match(errors.at(-1), { code: 'ERR_CERTIFICATE' });
  t.equal(seen.length, 0);

  // The key lands too (atomically, as the kubelet does): picked up by the watcher or the poll.
  writeFileSync(join(dir, 'tls.key.tmp'), b.key);
  renameSync(join(dir, 'tls.key.tmp'), join(dir, 'tls.key'));
  const until = Date.now() + 10_000;
  while (seen.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.equal(seen.length, 1, 'the change was picked up without a restart');
  t.equal(seen[0]?.cert, b.cert);
  t.equal(await files.check(), false, 'no change, no swap');
});

t.test('serial numbers are 16 bytes, positive DER integers without a leading zero byte', async (t) => {
  // a DER INTEGER may start with 0x00 only before a byte >= 0x80; OpenSSL 3
  // refuses a certificate that breaks this ("illegal padding")
  const bad: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const s = serialNumber();
    const first = parseInt(s.slice(0, 2), 16);
    if (s.length !== 32 || first === 0 || first >= 0x80) bad.push(s);
  }
  t.same(bad, []);
});
