// Writes what the app needs to trust the pod CA: the CA certificate, a combined
// bundle (system roots + pod CA) for SSL_CERT_FILE and friends, and a Java trust
// store. Never the CA key: the PodCa does not even have an exportable one.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { encodeJks } from './jks.ts';

/**
 * File names inside the trust directory. The first two match the webhook's
 * CA_CERT_FILE and CA_BUNDLE_FILE (webhook/src/inject/paths.ts), which points
 * the app's variables at them. The Java store is JKS: the JVM reads it whatever
 * javax.net.ssl.trustStoreType says (keystore.type.compat), and unlike a
 * PKCS#12 file it marks certificates as trusted without vendor attributes.
 */
export const TRUST_FILES = {
  caCert: 'ca.crt',
  bundle: 'bundle.crt',
  javaTrustStore: 'truststore.jks',
} as const;
export const JAVA_TRUST_STORE_PASSWORD = 'mayfly';

export interface TrustPaths {
  caCert: string;
  bundle: string;
  javaTrustStore: string;
}

async function atomicWrite(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o644 });
  await rename(tmp, path);
}

/** The bundle text: the system roots followed by the pod CA. */
export function bundleText(caPem: string, roots: readonly string[] = rootCertificates): string {
  return `${roots.map((r) => r.trim()).join('\n')}\n${caPem.trim()}\n`;
}

export async function writeTrustFiles(dir: string, caPem: string, now: number): Promise<TrustPaths> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const paths = { caCert: join(dir, TRUST_FILES.caCert), bundle: join(dir, TRUST_FILES.bundle), javaTrustStore: join(dir, TRUST_FILES.javaTrustStore) };
  const entries = [{ alias: 'mayfly-pod-ca', pem: caPem }, ...rootCertificates.map((pem, i) => ({ alias: `system-root-${i}`, pem }))];
  await atomicWrite(paths.caCert, caPem);
  await atomicWrite(paths.bundle, bundleText(caPem));
  await atomicWrite(paths.javaTrustStore, encodeJks(entries, JAVA_TRUST_STORE_PASSWORD, now));
  return paths;
}
