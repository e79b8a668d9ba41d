// The pod's CA: created in memory at start-up (ECDSA P-256, short-lived,
// name-constrained to the policy hosts), its private key a non-extractable
// WebCrypto key that is never written anywhere. It mints one leaf per host,
// on demand, into a bounded LRU cache, and only for names the caller vouches for.
// Certificates are encoded by ./der.ts and signed with WebCrypto.
import { createHash, generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { canonicalHost } from '../http/authority.ts';
import * as der from './der.ts';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

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

function pem(label: string, bytes: Uint8Array): string {
  const b64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** 16 random bytes, the first in 0x40-0x7f: positive, and minimal as a DER INTEGER as it stands. */
function serial(): Buffer {
  const b = randomBytes(16);
  b[0] = 0x40 | ((b[0] as number) & 0x3f);
  return b;
}

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2, method 1). */
function keyId(rawPublicKey: Uint8Array): Buffer {
  return createHash('sha1').update(rawPublicKey).digest();
}

async function signedBy(key: CryptoKey, tbs: Buffer): Promise<Buffer> {
  return der.certificate(tbs, new Uint8Array(await webcrypto.subtle.sign(SIGN, key, tbs)));
}

/** The dNSName subtrees for a set of policy hosts: "*.x.com" -> "x.com" (covers its subdomains). */
export function constraintNames(hosts: readonly string[]): string[] {
  return [...new Set(hosts.map((h) => (h.startsWith('*.') ? h.slice(2) : h)))].sort();
}

export class PodCa {
  readonly certPem: string;
  readonly notAfter: number;
  readonly permitted: readonly string[];
  #subject: Buffer;
  #keyId: Buffer;
  #key: CryptoKey;
  #opts: PodCaOptions;
  #now: () => number;
  #leaves = new Map<string, Leaf>();
  #pending = new Map<string, Promise<Leaf>>();
  #stats: LeafStats = { hits: 0, misses: 0, minted: 0, refused: 0, evicted: 0, size: 0, lastMintMs: 0 };

  private constructor(certDer: Buffer, subject: Buffer, keyId: Buffer, notAfter: number, key: CryptoKey, opts: PodCaOptions, now: () => number) {
    this.#subject = subject;
    this.#keyId = keyId;
    this.#key = key;
    this.#opts = opts;
    this.#now = now;
    this.certPem = pem('CERTIFICATE', certDer);
    this.notAfter = notAfter;
    this.permitted = constraintNames(opts.permittedHosts);
  }

  static async create(opts: PodCaOptions): Promise<PodCa> {
    const now = opts.now ?? Date.now;
    const keys = (await webcrypto.subtle.generateKey(ALG, false, ['sign', 'verify'])) as CryptoKeyPair;
    const t = now();
    const id = keyId(new Uint8Array(await webcrypto.subtle.exportKey('raw', keys.publicKey)));
    const serialNumber = serial();
    // each CA its own name (the trust files hold up to three of one pod's):
    // clients look an issuer up by name before they compare keys
    const subject = der.name([
      [der.OID.organization, 'Mayfly pod CA'],
      [der.OID.organizationalUnit, serialNumber.subarray(0, 8).toString('hex')],
      [der.OID.commonName, opts.commonName],
    ]);
    const extensions = [der.basicConstraints(true, 0), der.keyUsage(der.KEY_USAGE.keyCertSign, der.KEY_USAGE.cRLSign), der.subjectKeyIdentifier(id)];
    if (opts.permittedHosts.length > 0) extensions.push(der.nameConstraintsDns(constraintNames(opts.permittedHosts)));
    const notAfter = Math.floor((t + opts.lifetimeMs) / 1000) * 1000;
    const tbs = der.tbsCertificate({
      serial: serialNumber,
      issuer: subject,
      subject,
      notBefore: t - 5 * 60_000,
      notAfter,
      subjectPublicKeyInfo: new Uint8Array(await webcrypto.subtle.exportKey('spki', keys.publicKey)),
      extensions,
    });
    return new PodCa(await signedBy(keys.privateKey, tbs), subject, id, notAfter, keys.privateKey, opts, now);
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
    // generated on this thread: 0.05 ms, and no trip through the libuv pool
    const keys = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const notAfter = Math.min(this.notAfter, Math.floor((t + this.#opts.leafLifetimeMs) / 1000) * 1000);
    const tbs = der.tbsCertificate({
      serial: serial(),
      issuer: this.#subject,
      subject: der.name([[der.OID.commonName, host]]),
      notBefore: t - 5 * 60_000,
      notAfter,
      subjectPublicKeyInfo: keys.publicKey.export({ type: 'spki', format: 'der' }),
      extensions: [
        der.basicConstraints(false),
        der.keyUsage(der.KEY_USAGE.digitalSignature),
        der.extKeyUsageServerAuth(),
        der.subjectAltNameDns([host]),
        der.authorityKeyIdentifier(this.#keyId),
      ],
    });
    const keyPem = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const certPem = pem('CERTIFICATE', await signedBy(this.#key, tbs));
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
