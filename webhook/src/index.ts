export * from './inject/index.ts';
export * from './errors.ts';
export * from './annotations.ts';
export { admit, eventFor, type AdmissionEvent, type Outcome, type InvolvedObject } from './admit.ts';
export { buildWebhookServer, type WebhookServer, type WebhookConfig, type WebhookDeps, type CertificatePair } from './server.ts';
export { parseWebhookConfig, webhookConfigSchema, type WebhookOptions, type TlsConfig } from './config.ts';
export { SelfSignedCertificates, FileCertificates, createCA, createServingCert, caBundle, type CaStore, type CaMaterial, type Timers } from './certs.ts';
export { createMetrics, type WebhookMetrics } from './metrics.ts';
export { createLogger } from './log.ts';
