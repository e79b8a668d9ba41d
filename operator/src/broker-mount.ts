// Mounts the built-in token broker (operator/src/broker) on the controller's
// HTTPS app: its signing keys live in a Secret every replica shares, its
// policies come from the same informer cache as everything else.
import type { KubeConfig } from '@kubernetes/client-node';
import type { CompiledPolicy } from '@mayfly/crds';
import type { FastifyInstance } from 'fastify';
import { brokerRoutes, KeyManager, kubeBroker, pinoAudit, SecretKeyStore } from './broker/index.ts';
import type { ControllerConfig } from './config.ts';
import type { Logger } from './log.ts';
import type { Clock } from './machinery/clock.ts';

export interface BrokerMountDeps {
  kc: KubeConfig;
  config: ControllerConfig;
  log: Logger;
  clock: Clock;
  policiesFor(namespace: string): readonly CompiledPolicy[];
}

export function brokerIssuer(config: ControllerConfig): string {
  if (config.broker.issuer) return config.broker.issuer;
  const host = config.tls.mode === 'self-signed' ? config.tls.dnsNames[0] : 'mayfly-controller.mayfly-system.svc';
  return `https://${host}:${config.server.port}`;
}

export async function mountBroker(app: FastifyInstance, deps: BrokerMountDeps): Promise<{ stop(): void }> {
  const { config, log } = deps;
  const keys = new KeyManager({ store: new SecretKeyStore(deps.kc, config.namespace, config.broker.keySecretName), clock: deps.clock, logger: log });
  await keys.start();
  await app.register(
    brokerRoutes({
      issuer: brokerIssuer(config),
      trustDomain: config.broker.trustDomain,
      kube: kubeBroker(deps.kc),
      keys,
      policiesFor: deps.policiesFor,
      audit: pinoAudit(log),
      now: () => deps.clock.now(),
    }),
  );
  return { stop: () => keys.stop() };
}
