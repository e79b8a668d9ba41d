// Wires the credential layer: one provider per kind, chosen by each policy's
// provider.kind, behind the cache. `createCredentialSource` is what the sidecar
// calls once at start-up.
import type { CompiledPolicy } from '@mayfly/crds';
import type { Logger } from 'pino';
import { CredentialError } from '../contracts.ts';
import { CredentialCache } from './cache.ts';
import { systemClock, type Clock } from './clock.ts';
import type { CredentialMetrics } from './metrics.ts';
import { createBrokerProvider, type BrokerClientOptions } from './providers/broker.ts';
import type { ProviderContext } from './providers/common.ts';
import { createGcpProvider } from './providers/gcp.ts';
import { createClientCredentialsProvider, createTokenExchangeProvider } from './providers/oauth2.ts';
import type { Provider } from './providers/types.ts';
import { createVaultProvider } from './providers/vault.ts';
import type { TokenSource } from './token-source.ts';

export interface CredentialSourceOptions {
  tokenSource: TokenSource;
  identity: ProviderContext['identity'];
  /** The controller's broker (broker and secretRef policies). */
  brokerURL: string;
  brokerIssuer?: string;
  brokerCA?: string;
  clock?: Clock;
  random?: () => number;
  logger?: Logger;
  metrics?: CredentialMetrics;
  /** PEM trusted for every external provider in addition to the system roots. */
  extraCA?: string;
  timeoutMs?: number;
  /** Replace the provider of a kind (tests, or a deployment's own provider). */
  providers?: Partial<Record<CompiledPolicy['credential']['provider']['kind'], Provider>>;
}

/**
 * A provider whose module is loaded on its first use: the AWS SDK (about 4 MiB
 * of a sidecar's memory, measured) is loaded only by sidecars with an aws policy.
 */
function onDemand(load: () => Promise<Provider>): Provider {
  let loaded: Promise<Provider> | null = null;
  const provider = (): Promise<Provider> => (loaded ??= load());
  return {
    get: async (policy, signal) => (await provider()).get(policy, signal),
    release: async (credential) => (await provider()).release?.(credential),
    close: async () => {
      if (loaded) await (await loaded).close?.();
    },
  };
}

/** The cache over the providers; `settled()` tells when a `sync` has pre-warmed every entry. */
export function createCredentialSource(opts: CredentialSourceOptions): CredentialCache {
  const clock = opts.clock ?? systemClock;
  const ctx: ProviderContext = {
    tokens: opts.tokenSource,
    identity: opts.identity,
    now: () => clock.now(),
    ...(opts.extraCA ? { extraCA: opts.extraCA } : {}),
    ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  };
  const brokerOpts: BrokerClientOptions = { brokerURL: opts.brokerURL, ...(opts.brokerIssuer ? { issuer: opts.brokerIssuer } : {}), ...(opts.brokerCA ? { brokerCA: opts.brokerCA } : {}) };
  const made = new Map<string, Provider>();
  const make = (kind: CompiledPolicy['credential']['provider']['kind']): Provider => {
    const given = opts.providers?.[kind];
    if (given) return given;
    switch (kind) {
      case 'broker':
      case 'secretRef':
        return createBrokerProvider(ctx, brokerOpts);
      case 'oauth2TokenExchange':
        return createTokenExchangeProvider(ctx);
      case 'oauth2ClientCredentials':
        return createClientCredentialsProvider(ctx);
      case 'aws':
        return onDemand(async () => (await import('./providers/aws.ts')).createAwsProvider(ctx));
      case 'gcp':
        return createGcpProvider(ctx);
      case 'vault':
        return createVaultProvider(ctx);
      default:
        throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `unknown provider ${String(kind)}`);
    }
  };
  return new CredentialCache({
    providerFor(policy) {
      // broker and secretRef share one client of the controller.
      const kind = policy.credential.provider.kind === 'secretRef' ? 'broker' : policy.credential.provider.kind;
      let p = made.get(kind);
      if (!p) {
        p = make(policy.credential.provider.kind);
        made.set(kind, p);
      }
      return p;
    },
    clock,
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.metrics ? { metrics: opts.metrics } : {}),
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
}
