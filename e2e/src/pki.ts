// Certificates for a test control plane: one CA that signs the API server's
// serving certificate, client certificates, and any serving certificate a test
// needs (webhooks, fake upstreams). Keys come from Node's crypto (fast); node-forge
// builds the X.509 certificates.
import { generateKeyPairSync } from 'node:crypto';
import { isIP } from 'node:net';
import forge from 'node-forge';
import { serialNumber } from '../../webhook/src/certs.ts';

export interface KeyPair {
  certPem: string;
  keyPem: string;
}

export interface CertificateAuthority extends KeyPair {
  /** Signs a serving certificate for these DNS names and IP addresses. */
  issueServer(names: string[], opts?: { days?: number; commonName?: string }): KeyPair;
  /** Signs a client certificate; `organizations` become Kubernetes groups. */
  issueClient(commonName: string, organizations?: string[]): KeyPair;
}

function rsaKey(): { privateKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(keyPem);
  return { privateKey: forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), keyPem };
}

function validity(cert: forge.pki.Certificate, days: number): void {
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + days * 86_400_000);
}

export function createCA(commonName = 'mayfly-test-ca', days = 7): CertificateAuthority {
  const { privateKey, publicKey, keyPem } = rsaKey();
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  validity(cert, days);
  const subject = [{ name: 'commonName', value: commonName }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  const caCert = cert;

  function issue(cn: string, orgs: string[], extensions: object[], leafDays: number): KeyPair {
    const leaf = rsaKey();
    const c = forge.pki.createCertificate();
    c.publicKey = leaf.publicKey;
    c.serialNumber = serialNumber();
    validity(c, leafDays);
    c.setSubject([{ name: 'commonName', value: cn }, ...orgs.map((o) => ({ name: 'organizationName', value: o }))]);
    c.setIssuer(caCert.subject.attributes);
    c.setExtensions([{ name: 'basicConstraints', cA: false }, { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() }, ...extensions]);
    c.sign(privateKey, forge.md.sha256.create());
    return { certPem: forge.pki.certificateToPem(c), keyPem: leaf.keyPem };
  }

  return {
    certPem: forge.pki.certificateToPem(caCert),
    keyPem,
    issueServer(names, opts = {}) {
      const altNames = names.map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
      return issue(opts.commonName ?? names[0] ?? 'server', [], [
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames },
      ], opts.days ?? days);
    },
    issueClient(cn, organizations = []) {
      return issue(cn, organizations, [
        { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
        { name: 'extKeyUsage', clientAuth: true },
      ], days);
    },
  };
}

/** An RSA key pair in PEM, for the service-account token issuer. */
export function serviceAccountKeys(): { publicPem: string; privatePem: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    privatePem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
  };
}
