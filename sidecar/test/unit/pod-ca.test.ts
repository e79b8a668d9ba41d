// The pod CA's certificates, written by sidecar/src/tls/der.ts: the DER
// encoder against known encodings (X.690, RFC 5280), and the certificates it
// makes read back by two independent decoders, OpenSSL (node:crypto and the
// `openssl verify` command) and @peculiar/x509, then used in a TLS handshake.
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import t from 'tap';
import * as der from '../../src/tls/der.ts';
import { PodCa } from '../../src/tls/pod-ca.ts';

const hex = (b: Buffer): string => b.toString('hex');

t.test('DER: lengths, integers, object identifiers and times as X.690 encodes them', async (t) => {
  t.equal(hex(der.octetString(Buffer.alloc(0x7f))).slice(0, 4), '047f', 'short form up to 127');
  t.equal(hex(der.octetString(Buffer.alloc(0x80))).slice(0, 6), '048180', 'long form from 128');
  t.equal(hex(der.octetString(Buffer.alloc(0x100))).slice(0, 8), '04820100');
  t.equal(hex(der.unsignedInteger(Buffer.from([0]))), '020100');
  t.equal(hex(der.unsignedInteger(Buffer.from([0x7f]))), '02017f');
  t.equal(hex(der.unsignedInteger(Buffer.from([0x80]))), '02020080', 'a 0x00 in front keeps it positive');
  t.equal(hex(der.unsignedInteger(Buffer.from([0, 0, 1]))), '020101', 'leading zeros dropped: minimal form');
  t.equal(hex(der.unsignedInteger(Buffer.from([0, 0x80]))), '02020080');
  t.equal(hex(der.objectIdentifier('1.2.840.10045.4.3.2')), '06082a8648ce3d040302', 'ecdsa-with-SHA256');
  t.equal(hex(der.objectIdentifier('2.5.29.19')), '0603551d13', 'basicConstraints');
  t.equal(hex(der.objectIdentifier('2.999.3')), '0603883703', 'the X.690 8.19.5 example: a first subidentifier above 127');
  t.throws(() => der.objectIdentifier('1.40'), RangeError);
  t.throws(() => der.objectIdentifier('3.1'), RangeError);
  t.equal(der.time(Date.UTC(2049, 11, 31, 23, 59, 59, 999)).toString('latin1'), '\x17\x0d491231235959Z', 'UTCTime through 2049, whole seconds');
  t.equal(der.time(Date.UTC(2050, 0, 1)).toString('latin1'), '\x18\x0f20500101000000Z', 'GeneralizedTime from 2050');
  t.equal(hex(der.keyUsage(der.KEY_USAGE.digitalSignature)), '300e0603551d0f0101ff0404030207' + '80', 'digitalSignature: 7 unused bits');
  t.equal(hex(der.keyUsage(der.KEY_USAGE.keyCertSign, der.KEY_USAGE.cRLSign)), '300e0603551d0f0101ff0404030201' + '06', 'keyCertSign + cRLSign: 1 unused bit');
  t.equal(hex(der.basicConstraints(false)), '300c0603551d130101ff04023000', 'a leaf: cA FALSE is the default, so left out');
  t.throws(() => der.subjectAltNameDns(['bad\nname']), RangeError);
  t.throws(() => der.tbsCertificate({ serial: Buffer.from([0x80]), issuer: der.name([]), subject: der.name([]), notBefore: 0, notAfter: 0, subjectPublicKeyInfo: Buffer.alloc(0), extensions: [] }), /serial/);
});

t.test('the CA and its leaves, read by OpenSSL and by @peculiar/x509', async (t) => {
  const now = Date.UTC(2026, 10, 23, 12, 0, 0, 500);
  const ca = await PodCa.create({ lifetimeMs: 86400_000, leafLifetimeMs: 30 * 86400_000, permittedHosts: ['api.example.com', '*.svc.example.org'], maxLeaves: 10, commonName: 'Mayfly pod CA team-a/etl-0', now: () => now });
  const leaf = await ca.leaf('db.svc.example.org');

  const caCert = new X509Certificate(ca.certPem);
  t.ok(caCert.ca, 'a CA');
  t.equal(caCert.subject, caCert.issuer, 'self-signed');
  t.match(caCert.subject, /^O=Mayfly pod CA\nOU=[0-9a-f]{16}\nCN=Mayfly pod CA team-a\/etl-0$/);
  t.ok(caCert.verify(caCert.publicKey), 'its signature verifies');
  t.equal(caCert.validFrom, 'Nov 23 11:55:00 2026 GMT');
  t.equal(caCert.validTo, 'Nov 24 12:00:00 2026 GMT', 'a day, in whole seconds');
  t.equal(ca.notAfter, Date.parse('2026-11-24T12:00:00Z'));

  const leafCert = new X509Certificate(leaf.certPem);
  t.notOk(leafCert.ca);
  t.ok(leafCert.checkIssued(caCert), 'issued by the CA: its issuer name is the CA subject, byte for byte');
  t.ok(leafCert.verify(caCert.publicKey), 'signed by the CA key');
  t.equal(leafCert.subject, 'CN=db.svc.example.org');
  t.equal(leafCert.subjectAltName, 'DNS:db.svc.example.org');
  t.same(leafCert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'extended key usage: serverAuth only');
  t.equal(leafCert.validTo, caCert.validTo, 'a leaf never outlives its CA');
  t.equal(leaf.notAfter, ca.notAfter);
  t.equal(leafCert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
  t.ok(/^[4-7]/.test(leafCert.serialNumber), `serial positive and minimal (${leafCert.serialNumber})`);

  // an independent decoder: every extension where RFC 5280 puts it
  const p = new x509.X509Certificate(ca.certPem);
  const bc = p.getExtension(x509.BasicConstraintsExtension);
  t.ok(bc?.critical && bc.ca && bc.pathLength === 0, 'basicConstraints: critical, cA, pathLen 0');
  const ku = p.getExtension(x509.KeyUsagesExtension);
  t.ok(ku?.critical);
  t.equal(ku?.usages, x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign);
  const nc = p.getExtension('2.5.29.30');
  t.ok(nc?.critical, 'nameConstraints critical');
  const ski = p.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId;
  t.equal(ski, await (await x509.SubjectKeyIdentifierExtension.create(await p.publicKey.export())).keyId, 'SKI is the SHA-1 of the public key');
  const l = new x509.X509Certificate(leaf.certPem);
  t.equal(l.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId, ski, "the leaf's AKI names the CA key");
  const lbc = l.getExtension(x509.BasicConstraintsExtension);
  t.ok(lbc?.critical && !lbc.ca, 'leaf basicConstraints: critical, not a CA');
  t.equal(l.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature);
  t.same(l.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON(), [{ type: 'dns', value: 'db.svc.example.org' }]);
  t.same(l.getExtension(x509.ExtendedKeyUsageExtension)?.usages, ['1.3.6.1.5.5.7.3.1']);
});

t.test('openssl verify: a leaf inside the name constraints verifies, one outside does not', async (t) => {
  const ca = await PodCa.create({ lifetimeMs: 3600_000, leafLifetimeMs: 3600_000, permittedHosts: ['api.example.com', '*.svc.example.org'], maxLeaves: 10, commonName: 'Mayfly pod CA' });
  const dir = mkdtempSync(join(tmpdir(), 'mayfly-podca-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  const verify = (name: string, pem: string): string => {
    writeFileSync(join(dir, name), pem);
    try {
      return execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.pem'), join(dir, name)], { stdio: 'pipe' }).toString();
    } catch (e) {
      return String((e as { stdout: Buffer; stderr: Buffer }).stdout) + String((e as { stderr: Buffer }).stderr);
    }
  };
  t.match(verify('api.pem', (await ca.leaf('api.example.com')).certPem), /api\.pem: OK/);
  t.match(verify('sub.pem', (await ca.leaf('a.b.svc.example.org')).certPem), /sub\.pem: OK/);
  // PodCa mints only for names its caller vouches for; asked anyway, the constraint still holds
  t.match(verify('out.pem', (await ca.leaf('api.example.net')).certPem), /permitted subtree violation/);
});

t.test('a leaf serves TLS to a client that trusts only the pod CA', async (t) => {
  const ca = await PodCa.create({ lifetimeMs: 3600_000, leafLifetimeMs: 3600_000, permittedHosts: ['api.example.com'], maxLeaves: 10, commonName: 'Mayfly pod CA' });
  const leaf = await ca.leaf('api.example.com');
  const server = tls.createServer({ SNICallback: (_name, cb) => cb(null, leaf.context) }, (s) => s.end('hello'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as { port: number }).port;
  const got = await new Promise<string>((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, servername: 'api.example.com', ca: ca.certPem }, () => {
      let body = '';
      s.on('data', (d: Buffer) => (body += d.toString()));
      s.on('end', () => resolve(`${s.authorized} ${s.getProtocol()} ${body}`));
    });
    s.on('error', reject);
  });
  t.match(got, /^true TLSv1\.3 hello$/);
});
