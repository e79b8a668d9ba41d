// The pod's CA: created in memory at start-up (ECDSA P-256, short-lived,
// name-constrained to the policy hosts), its private key a non-extractable
// WebCrypto key that is never written anywhere. It mints one leaf per host,
// on demand, into a bounded LRU cache, and only for names the caller vouches for.
import { webcrypto, randomBytes } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { createSecureContext, type SecureContext } from 'node:tls';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { GeneralName, GeneralSubtree, GeneralSubtrees, NameConstraints, id_ce_nameConstraints } from '@peculiar/asn1-x509';
import { canonicalHost } from '../http/authority.ts';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const SIGN = { name: 'ECDSA', hash: 'SHA-256' } as const;
const HOUR = 3600_000;

export class LeafError extends Error {
  readonly code = 'ERR_LEAF_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'LeafError';
  }
}

export interface Leaf {
  host: string;
  certPem: string;
  notAfter: number;
  context: SecureContext;
}

export interface LeafStats {
  hits: number;
  misses: number;
  minted: number;
  refused: number;
  evicted: number;
  size: number;
  /** Milliseconds of the last mint. */
  lastMintMs: number;
}

export interface PodCaOptions {
  /** The CA's lifetime. */
  lifetimeMs: number;
  /** Leaf lifetime (capped by the CA's). */
  leafLifetimeMs: number;
  /** Hosts the CA may issue for ("api.x.com", "*.x.com"); empty means unconstrained. */
  permittedHosts: readonly string[];
  maxLeaves: number;
  commonName: string;
  now?: () => number;
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = (b[0] as number) & 0x7f;
  return b.toString('hex');
}

/** The dNSName subtrees for a set of policy hosts: "*.x.com" -> "x.com" (covers its subdomains). */
export function constraintNames(hosts: readonly string[]): string[] {
  return [...new Set(hosts.map((h) => (h.startsWith('*.') ? h.slice(2) : h)))].sort();
}

function nameConstraintsExtension(hosts: readonly string[]): x509.Extension {
  const permitted = new GeneralSubtrees(constraintNames(hosts).map((h) => new GeneralSubtree({ base: new GeneralName({ dNSName: h }) })));
  const value = AsnConvert.serialize(new NameConstraints({ permittedSubtrees: permitted }));
  return new x509.Extension(id_ce_nameConstraints, true, value);
}

export class PodCa {
  readonly certPem: string;
  readonly notAfter: number;
  readonly permitted: readonly string[];
  #cert: x509.X509Certificate;
  #key: CryptoKey;
  #opts: PodCaOptions;
  #now: () => number;
  #leaves = new Map<string, Leaf>();
  #pending = new Map<string, Promise<Leaf>>();
  #stats: LeafStats = { hits: 0, misses: 0, minted: 0, refused: 0, evicted: 0, size: 0, lastMintMs: 0 };

  private constructor(cert: x509.X509Certificate, key: CryptoKey, opts: PodCaOptions, now: () => number) {
    this.#cert = cert;
    this.#key = key;
    this.#opts = opts;
    this.#now = now;
    this.certPem = cert.toString('pem') + '\n';
    this.notAfter = cert.notAfter.getTime();
    this.permitted = constraintNames(opts.permittedHosts);
  }

  static async create(opts: PodCaOptions): Promise<PodCa> {
    const now = opts.now ?? Date.now;
    const keys = (await webcrypto.subtle.generateKey(ALG, false, ['sign', 'verify'])) as CryptoKeyPair;
    const t = now();
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ];
    if (opts.permittedHosts.length > 0) extensions.push(nameConstraintsExtension(opts.permittedHosts));
    const serialNumber = serial();
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber,
      // each CA its own name (the trust files hold up to three of one pod's):
      // clients look an issuer up by name before they compare keys
      name: `CN=${opts.commonName.replace(/[,=+<>#;"\\]/g, '_')}, OU=${serialNumber.slice(0, 16)}, O=Mayfly pod CA`,
      notBefore: new Date(t - 5 * 60_000),
      notAfter: new Date(t + opts.lifetimeMs),
      signingAlgorithm: SIGN,
      keys,
      extensions,
    });
    return new PodCa(cert, keys.privateKey, opts, now);
  }

  /** Whether a name is well-formed enough to mint for (the caller checks policy). */
  static validLeafName(host: string): boolean {
    const c = canonicalHost(host);
    return c.ok && c.ip === 0 && c.host === host && !host.includes('_');
  }

  stats(): LeafStats {
    return { ...this.#stats, size: this.#leaves.size };
  }

  /** Whether the CA's name constraints cover this host. */
  covers(host: string): boolean {
    if (this.permitted.length === 0) return true;
    return this.permitted.some((p) => host === p || host.endsWith(`.${p}`));
  }

  /** A leaf for `host` from the cache, or a new one. `host` must be canonical and vouched for by a policy. */
  async leaf(host: string): Promise<Leaf> {
    if (!PodCa.validLeafName(host)) {
      this.#stats.refused++;
      throw new LeafError('not a valid server name for a leaf certificate');
    }
    const hit = this.#leaves.get(host);
    if (hit && hit.notAfter - this.#now() > HOUR) {
      this.#stats.hits++;
      this.#leaves.delete(host);
      this.#leaves.set(host, hit);
      return hit;
    }
    this.#stats.misses++;
    let pending = this.#pending.get(host);
    if (!pending) {
      pending = this.#mint(host).finally(() => this.#pending.delete(host));
      this.#pending.set(host, pending);
    }
    return pending;
  }

  async #mint(host: string): Promise<Leaf> {
    const started = performance.now();
    const t = this.#now();
    const keys = (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
    const notAfter = Math.min(this.notAfter, t + this.#opts.leafLifetimeMs);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: `CN=${host}`,
      issuer: this.#cert.subject,
      notBefore: new Date(t - 5 * 60_000),
      notAfter: new Date(notAfter),
      signingAlgorithm: SIGN,
      publicKey: keys.publicKey,
      signingKey: this.#key,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: host }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.#cert),
      ],
    });
    const keyPem = pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    const certPem = cert.toString('pem') + '\n';
    const leaf: Leaf = { host, certPem, notAfter, context: createSecureContext({ key: keyPem, cert: certPem + this.certPem, minVersion: 'TLSv1.2' }) };
    this.#leaves.set(host, leaf);
    while (this.#leaves.size > this.#opts.maxLeaves) {
      const oldest = this.#leaves.keys().next().value as string;
      this.#leaves.delete(oldest);
      this.#stats.evicted++;
    }
    this.#stats.minted++;
    this.#stats.lastMintMs = performance.now() - started;
    return leaf;
  }

  /** Drops every cached leaf (after a policy change removed hosts). */
  retain(keep: (host: string) => boolean): void {
    for (const host of [...this.#leaves.keys()]) if (!keep(host)) this.#leaves.delete(host);
  }
}
