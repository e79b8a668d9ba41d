// The contract between the webhook and the sidecar: names, ports, paths and
// environment variables the injected pod uses. The sidecar imports these from
// `@mayfly/webhook/inject/paths`; change them only together with the sidecar.
import { DEFAULT_TOKEN_DIR, tokenRelativePath } from '@mayfly/crds/token-paths';

/** Container names Mayfly owns; a pod that uses them for anything else is refused. */
export const INIT_CONTAINER_NAME = 'mayfly-init';
export const SIDECAR_CONTAINER_NAME = 'mayfly-sidecar';
export const RESERVED_CONTAINER_NAMES: readonly string[] = [INIT_CONTAINER_NAME, SIDECAR_CONTAINER_NAME];

/** Volume names Mayfly owns. */
export const TOKEN_VOLUME = 'mayfly-tokens';
export const CA_VOLUME = 'mayfly-ca';
export const PODINFO_VOLUME = 'mayfly-podinfo';
export const RESERVED_VOLUME_NAMES: readonly string[] = [TOKEN_VOLUME, CA_VOLUME, PODINFO_VOLUME];

/** Projected service-account tokens, one file per audience (see tokenFileName), sidecar only. */
export const TOKEN_DIR = DEFAULT_TOKEN_DIR;
/** Where the sidecar writes the pod CA; app containers mount it read-only. */
export const CA_DIR = '/var/run/mayfly/ca';
/** The pod CA certificate alone (PEM): for NODE_EXTRA_CA_CERTS, which adds to Node's roots. */
export const CA_CERT_FILE = 'ca.crt';
/** The system roots plus the pod CA (PEM): for variables that replace the trust store. */
export const CA_BUNDLE_FILE = 'bundle.crt';
/** The same bundle as a PKCS#12 trust store for Java. */
export const JAVA_TRUSTSTORE_FILE = 'truststore.jks';
/** A trust store holds no secret; Java needs a password to read PKCS#12 all the same. */
export const JAVA_TRUSTSTORE_PASSWORD = 'mayfly';
/** Downward API files: `labels` (key="value" lines, as the kubelet writes them). */
export const PODINFO_DIR = '/var/run/mayfly/podinfo';
export const PODINFO_LABELS_FILE = 'labels';

export const CA_CERT_PATH = `${CA_DIR}/${CA_CERT_FILE}`;
export const CA_BUNDLE_PATH = `${CA_DIR}/${CA_BUNDLE_FILE}`;
export const JAVA_TRUSTSTORE_PATH = `${CA_DIR}/${JAVA_TRUSTSTORE_FILE}`;

/** Default ports of the sidecar. */
export const DEFAULT_PORTS = {
  /** Where the capture rules redirect outbound traffic (transparent mode). */
  outbound: 15001,
  /** The HTTP proxy that HTTP_PROXY/HTTPS_PROXY point at (explicit mode). */
  proxy: 15080,
  /** Health endpoints: /healthz (alive), /readyz (CA written, policy fetched). */
  health: 15021,
} as const;
export const READINESS_PATH = '/readyz';
export const LIVENESS_PATH = '/healthz';

/** The commands the webhook runs from the Mayfly image. */
export const SIDECAR_COMMAND: readonly string[] = ['mayfly', 'sidecar'];
export const INIT_COMMAND: readonly string[] = ['mayfly', 'init'];
/**
 * Without native sidecars the app is held until the sidecar is ready by a
 * postStart hook on the sidecar (the kubelet starts the next container only when
 * it returns). It must exit 0 once READINESS_PATH answers 200, non-zero on timeout.
 */
export const WAIT_READY_COMMAND: readonly string[] = ['mayfly', 'sidecar', 'wait-ready'];

/** Environment of the sidecar container. */
export const ENV = {
  podName: 'POD_NAME',
  podNamespace: 'POD_NAMESPACE',
  podUid: 'POD_UID',
  serviceAccount: 'SERVICE_ACCOUNT',
  controllerUrl: 'MAYFLY_CONTROLLER_URL',
  mode: 'MAYFLY_MODE',
  outboundPort: 'MAYFLY_OUTBOUND_PORT',
  proxyPort: 'MAYFLY_PROXY_PORT',
  healthPort: 'MAYFLY_HEALTH_PORT',
  tokenDir: 'MAYFLY_TOKEN_DIR',
  caDir: 'MAYFLY_CA_DIR',
  podinfoDir: 'MAYFLY_PODINFO_DIR',
  /** Comma-separated audiences with a token file in MAYFLY_TOKEN_DIR. */
  tokenAudiences: 'MAYFLY_TOKEN_AUDIENCES',
  /** Comma-separated captured ports: one transparent listener each, from MAYFLY_OUTBOUND_PORT up. */
  capturePorts: 'MAYFLY_CAPTURE_PORTS',
  /** PEM of the CA that signs the controller's serving certificate (public; empty: system roots). */
  controllerCa: 'MAYFLY_CONTROLLER_CA',
  /** The `iss` of the broker's tokens when it is not the controller's URL (chart value broker.issuer). */
  brokerIssuer: 'MAYFLY_BROKER_ISSUER',
  /** PEM trusted for external providers' endpoints in addition to the system roots (private PKI, TLS-inspecting egress). */
  providerCa: 'MAYFLY_PROVIDER_CA',
} as const;

/**
 * Placeholder AWS credentials for app containers of pods with an aws policy: the
 * SDK signs with them so it sends requests at all; the sidecar strips that
 * signature and signs with the real temporary credentials.
 */
export const AWS_PLACEHOLDER_ACCESS_KEY_ID = 'MAYFLYPLACEHOLDERKEY';
export const AWS_PLACEHOLDER_SECRET_ACCESS_KEY = 'mayfly-placeholder-secret-signed-again-by-the-sidecar';

/**
 * The path of an audience's token inside TOKEN_DIR (the projected
 * serviceAccountToken `path`): the layout the sidecar's token source reads.
 */
export function tokenFileName(audience: string): string {
  return tokenRelativePath(audience);
}
