// Validation beyond the CRD schema: a chain of small named pure checks in the
// manner of cert-manager's policies. Each check looks at the compiled policy and
// the facts the reconciler gathered (no I/O here) and returns findings.
import { X509Certificate } from 'node:crypto';
import { CONTROL_PLANE_AUDIENCE, type CompiledPolicy } from '@mayfly/crds';

export interface SecretFacts {
  /** Keys of the Secret's data, or null when the Secret does not exist. */
  keys: string[] | null;
}

export interface PolicyFacts {
  now: number;
  /** The Secrets the policy references, by name, as read from the API server. */
  secrets: ReadonlyMap<string, SecretFacts>;
  /** Audiences the Kubernetes API server accepts: a provider must never be sent a token for them. */
  apiAudiences: readonly string[];
}

export type Severity = 'error' | 'warning';

export interface Finding {
  check: string;
  /** An error means the policy grants nothing (Ready=False); a warning only degrades it. */
  severity: Severity;
  /** The condition reason, CamelCase. */
  reason: string;
  message: string;
}

export interface Check {
  name: string;
  run(policy: CompiledPolicy, facts: PolicyFacts): Finding[];
}

export const secretExists: Check = {
  name: 'secretExists',
  run(policy, facts) {
    const p = policy.credential.provider;
    if (p.kind !== 'secretRef') return [];
    const secret = facts.secrets.get(p.name);
    if (!secret || secret.keys === null) {
      return [{ check: this.name, severity: 'error', reason: 'SecretNotFound', message: `secret ${policy.namespace}/${p.name} does not exist` }];
    }
    if (!secret.keys.includes(p.key)) {
      return [{ check: this.name, severity: 'error', reason: 'SecretKeyNotFound', message: `secret ${policy.namespace}/${p.name} has no key ${JSON.stringify(p.key)}` }];
    }
    return [];
  },
};

/**
 * A provider must not be handed a token the controller or the API server would
 * accept: the external service could replay it as the pod.
 */
export const tokenAudienceNotReserved: Check = {
  name: 'tokenAudienceNotReserved',
  run(policy, facts) {
    const p = policy.credential.provider;
    if (p.kind === 'broker' || p.kind === 'secretRef') return [];
    const aud = p.tokenAudience;
    if (aud === CONTROL_PLANE_AUDIENCE || facts.apiAudiences.includes(aud)) {
      return [{
        check: this.name,
        severity: 'error',
        reason: 'ReservedAudience',
        message: `tokenAudience ${JSON.stringify(aud)} is reserved for ${aud === CONTROL_PLANE_AUDIENCE ? 'the Mayfly controller' : 'the Kubernetes API server'}: a token for it must never leave the pod`,
      }];
    }
    return [];
  },
};

/** The broker's own audience is the controller's: issuing tokens for it would let them pass as control-plane tokens. */
export const brokerAudienceNotReserved: Check = {
  name: 'brokerAudienceNotReserved',
  run(policy, facts) {
    const p = policy.credential.provider;
    if (p.kind !== 'broker') return [];
    if (p.audience === CONTROL_PLANE_AUDIENCE || facts.apiAudiences.includes(p.audience)) {
      return [{ check: this.name, severity: 'error', reason: 'ReservedAudience', message: `broker audience ${JSON.stringify(p.audience)} is reserved for the control plane` }];
    }
    return [];
  },
};

function pemProblem(pem: string): string | null {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) return 'contains no PEM certificate';
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch {
      return 'contains a certificate that does not parse';
    }
  }
  return null;
}

export const caBundlesParse: Check = {
  name: 'caBundlesParse',
  run(policy) {
    const findings: Finding[] = [];
    const bundles: Array<[string, string | undefined]> = policy.destinations.map((d) => [`destination ${d.host}`, d.caBundle]);
    const p = policy.credential.provider;
    if ('caBundle' in p) bundles.push([`provider ${p.kind}`, p.caBundle]);
    for (const [where, pem] of bundles) {
      if (pem === undefined) continue;
      const problem = pemProblem(pem);
      if (problem) findings.push({ check: this.name, severity: 'error', reason: 'InvalidCABundle', message: `caBundle of ${where} ${problem}` });
    }
    return findings;
  },
};

export const providerURLsUsable: Check = {
  name: 'providerURLsUsable',
  run(policy) {
    const p = policy.credential.provider;
    const urls: Array<[string, string | undefined]> =
      p.kind === 'oauth2TokenExchange' || p.kind === 'oauth2ClientCredentials'
        ? [['tokenURL', p.tokenURL]]
        : p.kind === 'vault'
          ? [['address', p.address]]
          : p.kind === 'aws'
            ? [['stsEndpoint', p.stsEndpoint]]
            : p.kind === 'gcp'
              ? [['stsEndpoint', p.stsEndpoint], ['iamCredentialsEndpoint', p.iamCredentialsEndpoint]]
              : [];
    const findings: Finding[] = [];
    for (const [field, value] of urls) {
      if (value === undefined) continue;
      let url: URL;
      try {
        url = new URL(value);
      } catch {
        findings.push({ check: this.name, severity: 'error', reason: 'ProviderUnusable', message: `${p.kind}.${field} is not a URL: ${JSON.stringify(value)}` });
        continue;
      }
      if (url.protocol !== 'https:') {
        findings.push({ check: this.name, severity: 'error', reason: 'ProviderUnusable', message: `${p.kind}.${field} must use https, not ${url.protocol.replace(':', '')}` });
      } else if (url.username || url.password) {
        findings.push({ check: this.name, severity: 'error', reason: 'ProviderUnusable', message: `${p.kind}.${field} must not carry credentials in the URL` });
      }
    }
    return findings;
  },
};

/** A time zone the CRD's pattern accepts may still be unknown to the runtime ("Europe/Atlantis"). */
export const timeZonesKnown: Check = {
  name: 'timeZonesKnown',
  run(policy) {
    const unknown = [...new Set(policy.timeWindows.map((w) => w.timeZone))].filter((zone) => {
      try {
        new Intl.DateTimeFormat('en-US', { timeZone: zone });
        return false;
      } catch {
        return true;
      }
    });
    return unknown.map((zone) => ({ check: this.name, severity: 'error' as const, reason: 'UnknownTimeZone', message: `time zone ${JSON.stringify(zone)} is not a known IANA time zone` }));
  },
};

export const notExpired: Check = {
  name: 'notExpired',
  run(policy, facts) {
    if (policy.expiresAt === null) return [];
    if (Date.parse(policy.expiresAt) > facts.now) return [];
    return [{ check: this.name, severity: 'error', reason: 'Expired', message: `the policy expired at ${policy.expiresAt} and grants nothing` }];
  },
};

/** Every check, in the order their findings are reported. */
export const CHECKS: readonly Check[] = [notExpired, secretExists, tokenAudienceNotReserved, brokerAudienceNotReserved, providerURLsUsable, caBundlesParse, timeZonesKnown];

export function runChecks(policy: CompiledPolicy, facts: PolicyFacts, checks: readonly Check[] = CHECKS): Finding[] {
  return checks.flatMap((c) => c.run(policy, facts));
}
