// Compiles a validated WorkloadPolicy into the form a sidecar enforces, and the
// pure questions every part asks of a policy: does it select this pod, which
// token audiences does it need. No I/O, no clock.
import type { LabelSelector, TimeWindow, WorkloadPolicy } from './types.ts';
import { CONTROL_PLANE_AUDIENCE } from './names.ts';

export type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'OPTIONS';

/** A path rule: an exact path, or every path below a prefix ("/v1/charges/*" -> prefix "/v1/charges/"). */
export type PathRule = { exact: string } | { prefix: string };

export interface CompiledDestination {
  /** Lowercase host; for a wildcard, the suffix after "*." is in `suffix`. */
  host: string;
  wildcard: boolean;
  /** For wildcards: ".example.com" (matches exactly one more label). */
  suffix?: string;
  ports: number[];
  /** null means every method. */
  methods: Method[] | null;
  /** null means every path. */
  paths: PathRule[] | null;
  plaintext: boolean;
  allowPrivateAddresses: boolean;
  caBundle?: string;
}

export type CompiledProvider =
  | { kind: 'broker'; audience: string; ttlSeconds: number }
  | { kind: 'secretRef'; name: string; key: string }
  | { kind: 'oauth2TokenExchange'; tokenURL: string; audience?: string; resource?: string; scopes: string[]; tokenAudience: string; caBundle?: string }
  | { kind: 'oauth2ClientCredentials'; tokenURL: string; clientID: string; scopes: string[]; tokenAudience: string; caBundle?: string }
  | { kind: 'aws'; roleARN: string; region: string; sessionSeconds: number; stsEndpoint?: string; tokenAudience: string }
  | { kind: 'gcp'; audience: string; serviceAccount: string; scopes: string[]; stsEndpoint?: string; iamCredentialsEndpoint?: string; tokenAudience: string }
  | { kind: 'vault'; address: string; role: string; authPath: string; secretPath: string; field: string; tokenAudience: string; caBundle?: string };

export type CompiledInjection =
  | { kind: 'header'; header: string; format: string }
  | { kind: 'query'; parameter: string }
  | { kind: 'basic'; username: string }
  | { kind: 'awsSigV4'; service?: string; region: string };

export interface CompiledPolicy {
  /** "namespace/name": unique in a cluster. */
  id: string;
  namespace: string;
  name: string;
  generation: number;
  mode: 'Enforce' | 'Audit';
  subjects: { serviceAccounts: string[] | null; podSelector: LabelSelector | null };
  posture: { allowedRegistries: string[]; requireDigest: boolean };
  timeWindows: TimeWindow[];
  destinations: CompiledDestination[];
  credential: {
    provider: CompiledProvider;
    inject: CompiledInjection;
    /**
     * Cache key of the credential: one entry per (provider settings, policy).
     * Two policies never share a credential, so deleting one drops exactly its own.
     */
    scope: string;
  };
  /** RFC 3339; after it the policy grants nothing. */
  expiresAt: string | null;
  /** Projected service-account token audiences this policy needs in the sidecar. */
  tokenAudiences: string[];
}

/** Parses the CRD's duration strings ("1h30m", "10m", "45s"). */
export function parseDuration(text: string): number {
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0);
}

function compilePath(p: string): PathRule {
  if (p === '/*') return { prefix: '/' };
  if (p.endsWith('/*')) return { prefix: p.slice(0, -1) };
  return { exact: p };
}

function compileProvider(p: WorkloadPolicy['spec']['credential']['provider']): CompiledProvider {
  if (p.broker) return { kind: 'broker', audience: p.broker.audience, ttlSeconds: parseDuration(p.broker.ttl ?? '10m') };
  if (p.secretRef) return { kind: 'secretRef', name: p.secretRef.name, key: p.secretRef.key };
  if (p.oauth2TokenExchange) {
    const o = p.oauth2TokenExchange;
    return { kind: 'oauth2TokenExchange', tokenURL: o.tokenURL, ...(o.audience ? { audience: o.audience } : {}), ...(o.resource ? { resource: o.resource } : {}), scopes: o.scopes ?? [], tokenAudience: o.tokenAudience ?? 'mayfly-sts', ...(o.caBundle ? { caBundle: o.caBundle } : {}) };
  }
  if (p.oauth2ClientCredentials) {
    const o = p.oauth2ClientCredentials;
    return { kind: 'oauth2ClientCredentials', tokenURL: o.tokenURL, clientID: o.clientID, scopes: o.scopes ?? [], tokenAudience: o.tokenAudience ?? 'api://AzureADTokenExchange', ...(o.caBundle ? { caBundle: o.caBundle } : {}) };
  }
  if (p.aws) {
    const a = p.aws;
    return { kind: 'aws', roleARN: a.roleARN, region: a.region, sessionSeconds: parseDuration(a.sessionDuration ?? '1h'), ...(a.stsEndpoint ? { stsEndpoint: a.stsEndpoint } : {}), tokenAudience: a.tokenAudience ?? 'sts.amazonaws.com' };
  }
  if (p.gcp) {
    const g = p.gcp;
    return { kind: 'gcp', audience: g.audience, serviceAccount: g.serviceAccount, scopes: g.scopes ?? ['https://www.googleapis.com/auth/cloud-platform'], ...(g.stsEndpoint ? { stsEndpoint: g.stsEndpoint } : {}), ...(g.iamCredentialsEndpoint ? { iamCredentialsEndpoint: g.iamCredentialsEndpoint } : {}), tokenAudience: g.audience };
  }
  if (p.vault) {
    const v = p.vault;
    return { kind: 'vault', address: v.address, role: v.role, authPath: v.authPath ?? 'jwt', secretPath: v.secretPath, field: v.field ?? 'value', tokenAudience: v.tokenAudience ?? 'vault', ...(v.caBundle ? { caBundle: v.caBundle } : {}) };
  }
  throw new Error('policy has no credential provider');
}

function compileInjection(i: WorkloadPolicy['spec']['credential']['inject'], provider: CompiledProvider): CompiledInjection {
  if (i.header) return { kind: 'header', header: i.header, format: i.format ?? 'Bearer {{token}}' };
  if (i.queryParameter) return { kind: 'query', parameter: i.queryParameter };
  if (i.basic) return { kind: 'basic', username: i.basic.username };
  if (i.awsSigV4) {
    const region = i.awsSigV4.region ?? (provider.kind === 'aws' ? provider.region : 'us-east-1');
    return { kind: 'awsSigV4', region, ...(i.awsSigV4.service ? { service: i.awsSigV4.service } : {}) };
  }
  throw new Error('policy has no injection');
}

/** The audiences the provider needs; the broker and secretRef use the control-plane token. */
function providerAudiences(p: CompiledProvider): string[] {
  switch (p.kind) {
    case 'broker':
    case 'secretRef':
      return [CONTROL_PLANE_AUDIENCE];
    default:
      return [p.tokenAudience];
  }
}

/** Compiles a policy that passed validateWorkloadPolicy (defaults applied). */
export function compilePolicy(policy: WorkloadPolicy): CompiledPolicy {
  const { spec, metadata } = policy;
  const namespace = metadata.namespace ?? 'default';
  const provider = compileProvider(spec.credential.provider);
  return {
    id: `${namespace}/${metadata.name}`,
    namespace,
    name: metadata.name,
    generation: metadata.generation ?? 0,
    mode: spec.mode ?? 'Enforce',
    subjects: {
      serviceAccounts: spec.subjects.serviceAccounts ?? null,
      podSelector: spec.subjects.podSelector ?? null,
    },
    posture: {
      allowedRegistries: spec.posture?.images?.allowedRegistries ?? [],
      requireDigest: spec.posture?.images?.requireDigest ?? false,
    },
    timeWindows: spec.conditions?.timeWindows ?? [],
    destinations: spec.destinations.map((d) => {
      const wildcard = d.host.startsWith('*.');
      return {
        host: d.host,
        wildcard,
        ...(wildcard ? { suffix: d.host.slice(1) } : {}),
        ports: d.ports ?? [443],
        methods: d.methods && d.methods.length > 0 ? (d.methods as Method[]) : null,
        paths: d.paths && d.paths.length > 0 ? d.paths.map(compilePath) : null,
        plaintext: d.plaintext ?? false,
        allowPrivateAddresses: d.allowPrivateAddresses ?? false,
        ...(d.caBundle ? { caBundle: d.caBundle } : {}),
      };
    }),
    credential: {
      provider,
      inject: compileInjection(spec.credential.inject, provider),
      scope: `${namespace}/${metadata.name}#${JSON.stringify(provider)}`,
    },
    expiresAt: spec.expiresAt ?? null,
    tokenAudiences: providerAudiences(provider),
  };
}

/** The facts about a pod that decide whether a policy selects it. */
export interface PodSubject {
  namespace: string;
  serviceAccount: string;
  labels: Record<string, string>;
}

export function matchesLabelSelector(selector: LabelSelector, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (labels[k] !== v) return false;
  }
  for (const req of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key);
    const value = labels[req.key];
    switch (req.operator) {
      case 'In':
        if (!has || !(req.values ?? []).includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && (req.values ?? []).includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Whether the policy selects the pod: same namespace and every set subject field matches. */
export function selects(policy: CompiledPolicy, pod: PodSubject): boolean {
  if (policy.namespace !== pod.namespace) return false;
  const { serviceAccounts, podSelector } = policy.subjects;
  if (serviceAccounts && !serviceAccounts.includes(pod.serviceAccount)) return false;
  if (podSelector && !matchesLabelSelector(podSelector, pod.labels)) return false;
  return true;
}

/** Every projected-token audience a set of policies needs, plus the control plane's, sorted. */
export function requiredAudiences(policies: CompiledPolicy[]): string[] {
  return [...new Set([CONTROL_PLANE_AUDIENCE, ...policies.flatMap((p) => p.tokenAudiences)])].sort();
}
