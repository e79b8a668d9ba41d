// The pod CA for the apps: an in-memory volume the sidecar writes, mounted
// read-only into app containers, and the variables that make common runtimes
// trust it (OpenSSL, Node, Python requests, curl, the AWS SDKs, Java).
import type { V1EnvVar, V1Volume } from '@kubernetes/client-node';
import { CA_BUNDLE_PATH, CA_CERT_PATH, CA_DIR, CA_VOLUME, JAVA_TRUSTSTORE_PASSWORD, JAVA_TRUSTSTORE_PATH } from '../paths.ts';
import type { Container, Plan, Pod } from '../types.ts';
import { addVolume, appContainers, literal, setEnv, setMount } from './containers.ts';

export const JAVA_TRUST_OPTIONS = [
  `-Djavax.net.ssl.trustStore=${JAVA_TRUSTSTORE_PATH}`,
  '-Djavax.net.ssl.trustStoreType=JKS',
  `-Djavax.net.ssl.trustStorePassword=${JAVA_TRUSTSTORE_PASSWORD}`,
].join(' ');

export function caVolume(): V1Volume {
  return { name: CA_VOLUME, emptyDir: { medium: 'Memory', sizeLimit: '4Mi' } };
}

export function trustEnv(): V1EnvVar[] {
  return [
    literal('SSL_CERT_FILE', CA_BUNDLE_PATH),
    literal('NODE_EXTRA_CA_CERTS', CA_CERT_PATH),
    literal('REQUESTS_CA_BUNDLE', CA_BUNDLE_PATH),
    literal('CURL_CA_BUNDLE', CA_BUNDLE_PATH),
    literal('AWS_CA_BUNDLE', CA_BUNDLE_PATH),
  ];
}

/**
 * JAVA_TOOL_OPTIONS often carries the app's own flags: ours are appended to a
 * literal value (once). A value from a Secret or ConfigMap cannot be extended,
 * so it is left as it is and that container's JVM keeps its own trust store.
 */
function javaOptions(container: Container): V1EnvVar | undefined {
  const existing = container.env?.find((e) => e.name === 'JAVA_TOOL_OPTIONS');
  if (existing?.valueFrom) return undefined;
  const current = existing?.value ?? '';
  if (current.includes(JAVA_TRUST_OPTIONS)) return undefined;
  return literal('JAVA_TOOL_OPTIONS', current.trim() === '' ? JAVA_TRUST_OPTIONS : `${current.trim()} ${JAVA_TRUST_OPTIONS}`);
}

export function addTrust(pod: Pod, plan: Plan): void {
  addVolume(pod, caVolume());
  for (const c of appContainers(pod, plan)) {
    setMount(c, { name: CA_VOLUME, mountPath: CA_DIR, readOnly: true });
    const java = javaOptions(c);
    setEnv(c, java ? [...trustEnv(), java] : trustEnv());
  }
}
