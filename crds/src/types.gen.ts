// Generated from crds/mayfly.dev_workloadpolicies.yaml by crds/scripts/gen-types.ts. Do not edit.
/* eslint-disable */
/**
 * The desired behaviour of the policy.
 */
export interface WorkloadPolicySpec {
  /**
   * Enforce denies requests this policy does not allow and adds the credential to those it allows. Audit decides and logs every request ("would deny") but never blocks one and never adds a credential; use it to try a policy before enforcing it.
   */
  mode?: "Enforce" | "Audit";
  subjects: Subjects;
  posture?: Posture;
  conditions?: Conditions;
  /**
   * The destinations the credential is for. A request to any other destination gets no credential.
   *
   * @minItems 1
   * @maxItems 32
   */
  destinations: Destination[];
  credential: Credential;
  /**
   * When the policy stops granting anything (RFC 3339). Use it for break-glass access. After it, the policy's Ready condition is False with reason Expired and every request it would have allowed is denied.
   */
  expiresAt?: string;
}
/**
 * Which pods of this namespace the policy applies to. A pod is selected when it matches every field that is set (service account and labels). At least one field must be set.
 */
export interface Subjects {
  /**
   * Names of service accounts in this namespace; a pod running as any of them matches.
   *
   * @maxItems 32
   *
   * Items: A service account name.
   */
  serviceAccounts?: string[];
  podSelector?: LabelSelector;
}
/**
 * A label selector over the pods of this namespace. An empty selector matches every pod.
 */
export interface LabelSelector {
  /**
   * Labels that must all be present with these values.
   */
  matchLabels?: {
    [k: string]: string | undefined;
  };
  /**
   * Label requirements that must all hold.
   *
   * @maxItems 16
   */
  matchExpressions?: LabelSelectorRequirement[];
}
/**
 * One label requirement.
 */
export interface LabelSelectorRequirement {
  /**
   * The label key.
   */
  key: string;
  /**
   * In, NotIn, Exists or DoesNotExist.
   */
  operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  /**
   * Values for In and NotIn; must be empty for Exists and DoesNotExist.
   *
   * @maxItems 32
   */
  values?: string[];
}
/**
 * What the selected pods must look like. A pod that does not is denied every destination of this policy.
 */
export interface Posture {
  images?: ImagePosture;
}
/**
 * Rules on every container image of the pod (init, sidecar and app containers except Mayfly's own).
 */
export interface ImagePosture {
  /**
   * Image reference prefixes that are allowed, for example "ghcr.io/acme/". Each must end with "/" so that "ghcr.io/acme" cannot match "ghcr.io/acme-evil/". Empty means any registry.
   *
   * @maxItems 32
   */
  allowedRegistries?: string[];
  /**
   * Require every image to be pinned by digest (image@sha256:...).
   */
  requireDigest?: boolean;
}
/**
 * When the policy grants anything. Outside every time window, requests are denied.
 */
export interface Conditions {
  /**
   * Time windows in which the policy applies; a request is allowed if it falls in any of them.
   *
   * @maxItems 16
   */
  timeWindows?: TimeWindow[];
}
/**
 * A weekly window. A window whose end is before its start runs past midnight into the next day.
 */
export interface TimeWindow {
  /**
   * Days of the week on which the window starts.
   *
   * @minItems 1
   * @maxItems 7
   */
  days: ("Mon" | "Tue" | "Wed" | "Thu" | "Fri" | "Sat" | "Sun")[];
  /**
   * Start time, "HH:MM" (24-hour clock), inclusive.
   */
  start: string;
  /**
   * End time, "HH:MM" (24-hour clock), exclusive. "24:00" means the end of the day.
   */
  end: string;
  /**
   * An IANA time zone name such as "Europe/Berlin" or "UTC".
   */
  timeZone: string;
}
/**
 * One destination; a request matches when host, port, method and path all match.
 */
export interface Destination {
  /**
   * A lowercase DNS name ("api.stripe.com") or a wildcard whose leftmost label is "*" ("*.example.com", which matches exactly one more label). IP addresses are not allowed: the sidecar routes by TLS server name.
   */
  host: string;
  /**
   * Destination ports. Default [443].
   *
   * @maxItems 16
   */
  ports?: number[];
  /**
   * HTTP methods allowed. Empty means every method.
   *
   * @maxItems 9
   */
  methods?: ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS")[];
  /**
   * Paths allowed, matched against the canonical path. "/v1/charges" matches exactly; "/v1/charges/*" matches any path below it; "/*" matches every path. Empty means every path.
   *
   * @maxItems 64
   */
  paths?: string[];
  /**
   * Allow the credential on plain HTTP (port 80) to this host. Off by default: a credential never leaves the pod on a cleartext socket unless this is set.
   */
  plaintext?: boolean;
  /**
   * Allow this host to resolve to private addresses (RFC 1918 and unique-local IPv6), for APIs inside your network. Off by default, so that DNS cannot steer a credential to another pod or an internal service. Loopback and link-local addresses (the node, the cloud metadata service) are never allowed.
   */
  allowPrivateAddresses?: boolean;
  /**
   * PEM certificates trusted for this destination in addition to the system trust store, for upstreams with a private CA.
   */
  caBundle?: string;
}
/**
 * The credential the selected workloads get for these destinations, and how it is added to requests.
 */
export interface Credential {
  provider: Provider;
  inject: Injection;
}
/**
 * Where the credential comes from. Exactly one field must be set.
 */
export interface Provider {
  broker?: BrokerProvider;
  secretRef?: SecretRefProvider;
  oauth2TokenExchange?: OAuth2TokenExchangeProvider;
  oauth2ClientCredentials?: OAuth2ClientCredentialsProvider;
  aws?: AwsProvider;
  gcp?: GcpProvider;
  vault?: VaultProvider;
}
/**
 * A JWT issued by Mayfly's built-in broker for one audience, signed ES256 and verifiable with the broker's published JWKS.
 */
export interface BrokerProvider {
  /**
   * The "aud" claim of the issued token; receivers check it.
   */
  audience: string;
  /**
   * Lifetime of each token, a duration such as "10m" (1m to 24h). Default 10m.
   */
  ttl?: string;
}
/**
 * A static key held in a Secret of this namespace that only the Mayfly controller can read. The broker releases it to the sidecars of the selected pods; it is never mounted into a pod.
 */
export interface SecretRefProvider {
  /**
   * The Secret's name.
   */
  name: string;
  /**
   * The key in the Secret's data.
   */
  key: string;
}
/**
 * OAuth 2.0 Token Exchange (RFC 8693) of the pod's service-account token at an external STS.
 */
export interface OAuth2TokenExchangeProvider {
  /**
   * The STS token endpoint (https).
   */
  tokenURL: string;
  /**
   * The "audience" parameter of the exchange.
   */
  audience?: string;
  /**
   * The "resource" parameter of the exchange.
   */
  resource?: string;
  /**
   * Scopes requested.
   *
   * @maxItems 32
   */
  scopes?: string[];
  /**
   * Audience of the projected service-account token presented as the subject token. Default "mayfly-sts".
   */
  tokenAudience?: string;
  /**
   * PEM certificates trusted for the token endpoint in addition to the system trust store.
   */
  caBundle?: string;
}
/**
 * OAuth 2.0 client credentials with the pod's service-account token as an RFC 7523 JWT client assertion (the Entra ID workload identity federation flow).
 */
export interface OAuth2ClientCredentialsProvider {
  /**
   * The token endpoint (https).
   */
  tokenURL: string;
  /**
   * The client (application) id.
   */
  clientID: string;
  /**
   * Scopes requested, for example "https://graph.microsoft.com/.default".
   *
   * @maxItems 32
   */
  scopes?: string[];
  /**
   * Audience of the projected service-account token used as the assertion. Default "api://AzureADTokenExchange".
   */
  tokenAudience?: string;
  /**
   * PEM certificates trusted for the token endpoint in addition to the system trust store.
   */
  caBundle?: string;
}
/**
 * AWS temporary credentials from STS AssumeRoleWithWebIdentity; the sidecar signs each allowed request with SigV4. Requires inject.awsSigV4.
 */
export interface AwsProvider {
  /**
   * The IAM role to assume.
   */
  roleARN: string;
  /**
   * The region of the regional STS endpoint and the default signing region.
   */
  region: string;
  /**
   * Session duration, 15m to 12h. Default 1h.
   */
  sessionDuration?: string;
  /**
   * Override of the STS endpoint (https), for partitions, VPC endpoints and tests.
   */
  stsEndpoint?: string;
  /**
   * Audience of the projected service-account token. Default "sts.amazonaws.com".
   */
  tokenAudience?: string;
}
/**
 * A Google access token from workload identity federation: STS token exchange, then impersonation of a service account.
 */
export interface GcpProvider {
  /**
   * The workload identity provider, as in //iam.googleapis.com/projects/N/locations/global/workloadIdentityPools/P/providers/R.
   */
  audience: string;
  /**
   * The service account email to impersonate.
   */
  serviceAccount: string;
  /**
   * OAuth scopes of the access token. Default cloud-platform.
   *
   * @maxItems 32
   */
  scopes?: string[];
  /**
   * Override of the STS endpoint (https), for tests.
   */
  stsEndpoint?: string;
  /**
   * Override of the IAM Credentials endpoint (https), for tests.
   */
  iamCredentialsEndpoint?: string;
}
/**
 * A secret from HashiCorp Vault, read after a JWT or Kubernetes auth login with the pod's token.
 */
export interface VaultProvider {
  /**
   * Vault's address (https).
   */
  address: string;
  /**
   * The auth role to log in as.
   */
  role: string;
  /**
   * Mount path of the auth method. Default "jwt".
   */
  authPath?: string;
  /**
   * The path to read, as in "secret/data/stripe" (KV v2) or "database/creds/readonly" (a dynamic secret).
   */
  secretPath: string;
  /**
   * The field of the secret's data to use as the credential. Default "value".
   */
  field?: string;
  /**
   * Audience of the projected service-account token. Default "vault".
   */
  tokenAudience?: string;
  /**
   * PEM certificates trusted for Vault in addition to the system trust store.
   */
  caBundle?: string;
}
/**
 * How the credential is added to each allowed request. Exactly one of header, queryParameter, basic or awsSigV4.
 */
export interface Injection {
  /**
   * The header that carries the credential, for example "Authorization". Any value the app sent in it is removed first.
   */
  header?: string;
  /**
   * The header value, with "{{token}}" where the credential goes. Default "Bearer {{token}}".
   */
  format?: string;
  /**
   * A query parameter that carries the credential, for APIs that take keys only in the URL.
   */
  queryParameter?: string;
  basic?: BasicInjection;
  awsSigV4?: AwsSigV4Injection;
}
/**
 * HTTP Basic authentication with this user name and the credential as the password.
 */
export interface BasicInjection {
  /**
   * The user name.
   */
  username: string;
}
/**
 * Sign each request with AWS Signature Version 4 using the aws provider's temporary credentials.
 */
export interface AwsSigV4Injection {
  /**
   * The signing service name, such as "s3"; by default taken from the host (service.region.amazonaws.com).
   */
  service?: string;
  /**
   * The signing region; by default the provider's region.
   */
  region?: string;
}

/**
 * What the controller observed. Written only through the status subresource.
 */
export interface WorkloadPolicyStatus {
  /**
   * The metadata.generation this status describes.
   */
  observedGeneration?: number;
  /**
   * Pods the policy selects.
   */
  matchedPods?: number;
  /**
   * Selected pods that run the Mayfly sidecar.
   */
  injectedPods?: number;
  /**
   * Selected pods that cannot enforce this policy (no sidecar, or missing token audiences).
   */
  driftedPods?: number;
  /**
   * Up to 20 of the drifted pods, each with the command that fixes it.
   *
   * @maxItems 20
   */
  drift?: DriftedPod[];
  /**
   * Ready (the policy is compiled and enforced) and Degraded (something needs attention).
   *
   * @maxItems 8
   */
  conditions?: Condition[];
}
/**
 * One pod that cannot enforce this policy.
 */
export interface DriftedPod {
  /**
   * The pod name.
   */
  pod: string;
  /**
   * NoSidecar or MissingAudience.
   */
  reason: string;
  /**
   * What is wrong.
   */
  message?: string;
  /**
   * The command that would fix it.
   */
  fix?: string;
}
/**
 * A standard Kubernetes condition.
 */
export interface Condition {
  /**
   * The condition type, Ready or Degraded.
   */
  type: string;
  /**
   * True, False or Unknown.
   */
  status: "True" | "False" | "Unknown";
  /**
   * A CamelCase reason code.
   */
  reason: string;
  /**
   * A human-readable explanation.
   */
  message?: string;
  /**
   * The generation the condition was set for.
   */
  observedGeneration?: number;
  /**
   * When the status last changed.
   */
  lastTransitionTime: string;
}
