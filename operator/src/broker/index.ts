export { brokerRoutes, type BrokerDeps, type BrokerKeys } from './routes.ts';
export { authorize, brokerPodFrom, claimOf, type BrokerPod, type Decision, type ExchangeTarget, type RefusalReason } from './authorize.ts';
export { KeyManager, type KeyManagerOptions } from './key-manager.ts';
export { MemoryKeyStore, type KeyStore, type KeySchedule, DEFAULT_SCHEDULE } from './keys.ts';
export { kubeBroker, SecretKeyStore, type BrokerKube } from './kube.ts';
export { pinoAudit, type BrokerAudit, type BrokerAuditRecord } from './audit.ts';
export { spiffeID, MAYFLY_CLAIM } from './issue.ts';
