// The webhook's serving certificate, two ways:
//  - self-signed: a CA kept in a Secret (through CaStore) signs a short-lived
//    serving certificate per replica; both are renewed well before expiry, the
//    CA bundle (new and previous CA during a rollover) is handed to onCaBundle
//    to write into the MutatingWebhookConfiguration;
//  - files: cert-manager (or anyone) writes tls.crt/tls.key; changes are
//    picked up without a restart.
// Either way the result goes to onCertificate, which swaps it into the server.
import { generateKeyPairSync, randomBytes, X509Certificate, createPrivateKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import forge from 'node-forge';
import { WebhookError } from './errors.ts';
import type { CertificatePair } from './server.ts';

export interface CaMaterial {
  cert: string;
  key: string;
  /** The CA this one replaced, still trusted until it expires. */
  previous?: string;
}

/** Where the CA lives (a Secret in the controller's namespace); testable. */
export interface CaStore {
  load(): Promise<CaMaterial | undefined>;
  /** Saves `ca`; if another replica saved first, returns theirs instead. */
  save(ca: CaMaterial, replacing: CaMaterial | undefined): Promise<CaMaterial>;
}

const DAY = 86_400_000;

function newKey(): { forgeKey: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const forgeKey = forge.pki.privateKeyFromPem(pem);
  return { forgeKey, publicKey: forge.pki.setRsaPublicKey(forgeKey.n, forgeKey.e), pem };
}

/**
 * A certificate serial: 16 random bytes, the first in 0x40-0x7f, so the DER
 * integer is positive and never starts with a zero byte, which DER forbids
 * before a byte below 0x80 (OpenSSL 3 then refuses the certificate: "illegal
 * padding"; `0` + 15 random bytes did that whenever the first was 0x00).
 */
export function serialNumber(): string {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x3f) | 0x40;
  return serial.toString('hex');
}

function baseCert(publicKey: forge.pki.rsa.PublicKey, now: Date, days: number): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  cert.serialNumber = serialNumber();
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY);
  return cert;
}

export function createCA(commonName: string, now: Date, days = 3650): CaMaterial {
  const key = newKey();
  const cert = baseCert(key.publicKey, now, days);
  const subject = [{ name: 'commonName', value: commonName }, { name: 'organizationName', value: 'mayfly' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(key.forgeKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

export function createServingCert(ca: CaMaterial, names: { dnsNames: string[]; ipAddresses?: string[] }, now: Date, days = 90): CertificatePair {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const key = newKey();
  const cert = baseCert(key.publicKey, now, days);
  cert.setSubject([{ name: 'commonName', value: names.dnsNames[0] ?? names.ipAddresses?.[0] ?? 'mayfly-webhook' }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [...names.dnsNames.map((value) => ({ type: 2, value })), ...(names.ipAddresses ?? []).map((ip) => ({ type: 7, ip }))] },
    { name: 'authorityKeyIdentifier', keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: key.pem };
}

/** When a certificate should be renewed: after `fraction` of its lifetime. */
export function renewAt(certPem: string, fraction: number): Date {
  const x = new X509Certificate(certPem);
  const from = new Date(x.validFrom).getTime();
  const to = new Date(x.validTo).getTime();
  return new Date(from + (to - from) * fraction);
}

export function expiresAt(certPem: string): Date {
  return new Date(new X509Certificate(certPem).validTo);
}

/** The PEM bundle the API server trusts: the current CA, and the previous one while it is valid. */
export function caBundle(ca: CaMaterial, now: Date): string {
  const previous = ca.previous && expiresAt(ca.previous) > now ? ca.previous : undefined;
  return previous ? `${ca.cert.trim()}\n${previous.trim()}\n` : `${ca.cert.trim()}\n`;
}

/** Checks that a key and certificate belong together; throws ERR_CERTIFICATE otherwise. */
export function checkPair(pair: CertificatePair): CertificatePair {
  try {
    if (!new X509Certificate(pair.cert).checkPrivateKey(createPrivateKey(pair.key))) throw new Error('key does not match certificate');
  } catch (err) {
    throw new WebhookError('ERR_CERTIFICATE', `unusable serving certificate: ${(err as Error).message}`, { cause: err });
  }
  return pair;
}

export interface Timers {
  now(): Date;
  /** Calls fn after ms; returns a cancel function. */
  after(ms: number, fn: () => void): () => void;
}

export const realTimers: Timers = {
  now: () => new Date(),
  after: (ms, fn) => {
    const t = setTimeout(fn, Math.min(ms, 2 ** 31 - 1));
    t.unref();
    return () => clearTimeout(t);
  },
};

export interface SelfSignedOptions {
  store: CaStore;
  dnsNames: string[];
  ipAddresses?: string[];
  onCertificate(pair: CertificatePair): void;
  /** Writes the bundle where the API server reads it (the MutatingWebhookConfiguration). */
  onCaBundle?(bundle: string): Promise<void>;
  onError?(err: unknown): void;
  timers?: Timers;
  caDays?: number;
  servingDays?: number;
  /** Re-reads the CA at least this often, to follow a rollover made by another replica. */
  recheckMs?: number;
}

/** Renews the CA at 80% of its life, the serving certificate at 2/3 of its own. */
export class SelfSignedCertificates {
  readonly #o: SelfSignedOptions;
  readonly #timers: Timers;
  #serving: CertificatePair | undefined;
  #servingCa: string | undefined;
  #bundle: string | undefined;
  #cancel: (() => void) | undefined;
  #stopped = false;

  constructor(options: SelfSignedOptions) {
    this.#o = options;
    this.#timers = options.timers ?? realTimers;
  }

  /** The first certificate, ready for buildWebhookServer; renewals follow on a timer. */
  async start(): Promise<CertificatePair> {
    await this.refresh();
    return this.#serving as CertificatePair;
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel?.();
  }

  get current(): CertificatePair | undefined {
    return this.#serving;
  }

  async refresh(): Promise<void> {
    const now = this.#timers.now();
    let ca = await this.#o.store.load();
    if (!ca) ca = await this.#o.store.save(createCA('mayfly-webhook-ca', now, this.#o.caDays), undefined);
    else if (renewAt(ca.cert, 0.8) <= now) {
      ca = await this.#o.store.save({ ...createCA('mayfly-webhook-ca', now, this.#o.caDays), previous: ca.cert }, ca);
    }
    const bundle = caBundle(ca, now);
    if (bundle !== this.#bundle) {
      await this.#o.onCaBundle?.(bundle);
      this.#bundle = bundle;
    }
    if (!this.#serving || this.#servingCa !== ca.cert || renewAt(this.#serving.cert, 2 / 3) <= now) {
      this.#serving = createServingCert(ca, { dnsNames: this.#o.dnsNames, ipAddresses: this.#o.ipAddresses ?? [] }, now, this.#o.servingDays);
      this.#servingCa = ca.cert;
      this.#o.onCertificate(this.#serving);
    }
    this.#schedule(ca, now);
  }

  #schedule(ca: CaMaterial, now: Date): void {
    if (this.#stopped) return;
    this.#cancel?.();
    const next = Math.min(renewAt(ca.cert, 0.8).getTime(), renewAt((this.#serving as CertificatePair).cert, 2 / 3).getTime());
    const wait = Math.max(1000, Math.min(next - now.getTime(), this.#o.recheckMs ?? 3_600_000));
    this.#cancel = this.#timers.after(wait, () => {
      this.refresh().catch((err: unknown) => {
        this.#o.onError?.(err);
        // Try again soon; the current certificate stays in use meanwhile.
        if (!this.#stopped) this.#cancel = this.#timers.after(30_000, () => void this.refresh().catch((e: unknown) => this.#o.onError?.(e)));
      });
    });
  }
}

export interface FileCertificateOptions {
  certFile: string;
  keyFile: string;
  onCertificate(pair: CertificatePair): void;
  onError?(err: unknown): void;
  /** Polling as a safety net for file systems where watch events are lost. */
  pollMs?: number;
}

/** Serving certificate from files (cert-manager's Secret volume), reloaded when they change. */
export class FileCertificates {
  readonly #o: FileCertificateOptions;
  #current: string | undefined;
  #watchers: FSWatcher[] = [];
  #poll: NodeJS.Timeout | undefined;

  constructor(options: FileCertificateOptions) {
    this.#o = options;
  }

  async load(): Promise<CertificatePair> {
    const [cert, key] = await Promise.all([readFile(this.#o.certFile, 'utf8'), readFile(this.#o.keyFile, 'utf8')]).catch((err: unknown) => {
      throw new WebhookError('ERR_CERTIFICATE', `cannot read serving certificate: ${(err as Error).message}`, { cause: err });
    });
    return checkPair({ cert, key });
  }

  /** Loads the files; calls onCertificate if they changed. A half-written pair is ignored until it matches. */
  async check(): Promise<boolean> {
    try {
      const pair = await this.load();
      if (pair.cert + pair.key === this.#current) return false;
      this.#current = pair.cert + pair.key;
      this.#o.onCertificate(pair);
      return true;
    } catch (err) {
      this.#o.onError?.(err);
      return false;
    }
  }

  async start(): Promise<CertificatePair> {
    const pair = await this.load();
    this.#current = pair.cert + pair.key;
    // Kubernetes updates Secret volumes by swapping a symlinked directory: watch the directories.
    for (const dir of new Set([dirname(this.#o.certFile), dirname(this.#o.keyFile)])) {
      const w = watch(dir, () => void this.check());
      w.on('error', (err) => this.#o.onError?.(err));
      this.#watchers.push(w);
    }
    this.#poll = setInterval(() => void this.check(), this.#o.pollMs ?? 30_000);
    this.#poll.unref();
    return pair;
  }

  stop(): void {
    for (const w of this.#watchers) w.close();
    this.#watchers = [];
    if (this.#poll) clearInterval(this.#poll);
  }
}
