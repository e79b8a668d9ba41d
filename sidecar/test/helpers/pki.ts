// A test PKI for upstream servers: a CA, and leaf certificates that are good,
// self-signed, for the wrong name or expired.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const DAY = 86400_000;

function pem(label: string, der: ArrayBuffer): string {
  return `-----BEGIN ${label}-----\n${Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END ${label}-----\n`;
}

export interface Issued {
  key: string;
  cert: string;
}

export interface TestCa {
  cert: string;
  issue(names: string[], opts?: { expired?: boolean; selfSigned?: boolean }): Promise<Issued>;
}

let serial = 1;

export async function createTestCa(name = 'Mayfly test upstream CA'): Promise<TestCa> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: (serial++).toString(16).padStart(2, '0'),
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    signingAlgorithm: SIGN,
    keys,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  return {
    cert: ca.toString('pem') + '\n',
    async issue(names, opts = {}) {
      const leafKeys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
      const notBefore = opts.expired ? new Date(Date.now() - 10 * DAY) : new Date(Date.now() - DAY);
      const notAfter = opts.expired ? new Date(Date.now() - 5 * DAY) : new Date(Date.now() + 10 * DAY);
      const extensions = [new x509.SubjectAlternativeNameExtension(names.map((n) => (/^[0-9.]+$/.test(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }))), new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth])];
      const cert = opts.selfSigned
        ? await x509.X509CertificateGenerator.createSelfSigned({ serialNumber: (serial++).toString(16).padStart(2, '0'), name: `CN=${names[0]}`, notBefore, notAfter, signingAlgorithm: SIGN, keys: leafKeys, extensions })
        : await x509.X509CertificateGenerator.create({ serialNumber: (serial++).toString(16).padStart(2, '0'), subject: `CN=${names[0]}`, issuer: ca.subject, notBefore, notAfter, signingAlgorithm: SIGN, publicKey: leafKeys.publicKey, signingKey: keys.privateKey, extensions });
      return { key: pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey)), cert: cert.toString('pem') + '\n' };
    },
  };
}
