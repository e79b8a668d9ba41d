// The webhook part of the controller's configuration: parsed once, validated
// with ajv (every problem listed), defaults applied, frozen. The chart's
// values.schema.json mirrors `webhookConfigSchema`.
import { Ajv } from 'ajv';
import { WebhookError } from './errors.ts';
import { defaultSettings, settingsProblems } from './inject/settings.ts';
import type { InjectSettings } from './inject/types.ts';

export type TlsConfig =
  | { mode: 'self-signed'; caSecretName: string; webhookConfigurationName: string; dnsNames: string[] }
  | { mode: 'files'; certFile: string; keyFile: string };

export interface WebhookOptions {
  port: number;
  host: string;
  bodyLimit: number;
  tls: TlsConfig;
  settings: InjectSettings;
}

const port = { type: 'integer', minimum: 1, maximum: 65535 };
const resources = { type: 'object', properties: { requests: { type: 'object' }, limits: { type: 'object' } }, additionalProperties: false };

export const webhookConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    port: { ...port, default: 9443 },
    host: { type: 'string', default: '0.0.0.0' },
    bodyLimit: { type: 'integer', minimum: 65536, default: 4194304 },
    tls: {
      type: 'object',
      default: { mode: 'self-signed' },
      required: ['mode'],
      properties: {
        mode: { enum: ['self-signed', 'files'] },
        caSecretName: { type: 'string', default: 'mayfly-webhook-ca' },
        webhookConfigurationName: { type: 'string', default: 'mayfly-injector' },
        dnsNames: { type: 'array', items: { type: 'string' }, default: ['mayfly-webhook.mayfly-system.svc'] },
        certFile: { type: 'string', default: '/var/run/mayfly/webhook-tls/tls.crt' },
        keyFile: { type: 'string', default: '/var/run/mayfly/webhook-tls/tls.key' },
      },
    },
    injection: {
      type: 'object',
      default: {},
      additionalProperties: false,
      properties: {
        image: { type: 'string', minLength: 1 },
        imagePullPolicy: { enum: ['Always', 'IfNotPresent', 'Never'] },
        sidecarUid: { type: 'integer', minimum: 1 },
        ports: { type: 'object', additionalProperties: false, properties: { outbound: port, proxy: port, health: port } },
        capturePorts: { type: 'array', items: port },
        mode: { enum: ['transparent', 'explicit'] },
        resources: { type: 'object', additionalProperties: false, properties: { sidecar: resources, init: resources } },
        excludeOutboundCidrs: { type: 'array', items: { type: 'string' } },
        excludeOutboundPorts: { type: 'array', items: port },
        controllerUrl: { type: 'string' },
        controllerCa: { type: 'string' },
        brokerIssuer: { type: 'string' },
        providerCa: { type: 'string' },
        nativeSidecars: { type: 'boolean' },
        mayflyNamespace: { type: 'string', minLength: 1 },
        tokenExpirationSeconds: { type: 'integer', minimum: 600 },
      },
    },
  },
} as const;

const validate = new Ajv({ allErrors: true, useDefaults: true, strict: false }).compile(webhookConfigSchema);

/** Parses the webhook's configuration; throws ERR_INVALID_CONFIG listing every problem. */
export function parseWebhookConfig(raw: unknown): Readonly<WebhookOptions> {
  const input = structuredClone(raw ?? {}) as Record<string, unknown>;
  const problems: string[] = [];
  if (!validate(input)) {
    for (const e of validate.errors ?? []) problems.push(`${e.instancePath || '(root)'} ${e.message ?? 'is invalid'}`);
  }
  const injection = (input.injection ?? {}) as Partial<InjectSettings>;
  const settings = defaultSettings({ ...injection, ports: { ...defaultSettings().ports, ...injection.ports } });
  if (problems.length === 0) problems.push(...settingsProblems(settings).map((p) => `/injection ${p}`));
  if (problems.length > 0) throw new WebhookError('ERR_INVALID_CONFIG', `invalid webhook configuration: ${problems.join('; ')}`);
  const tls = input.tls as Record<string, unknown>;
  const tlsConfig: TlsConfig = tls.mode === 'files'
    ? { mode: 'files', certFile: tls.certFile as string, keyFile: tls.keyFile as string }
    : { mode: 'self-signed', caSecretName: tls.caSecretName as string, webhookConfigurationName: tls.webhookConfigurationName as string, dnsNames: tls.dnsNames as string[] };
  return Object.freeze({ port: input.port as number, host: input.host as string, bodyLimit: input.bodyLimit as number, tls: tlsConfig, settings: Object.freeze(settings) });
}
