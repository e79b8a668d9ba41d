// The controller's configuration: parsed once from defaults, a YAML/JSON file,
// the environment and flags (in that order of precedence, flags last), checked
// with ajv against one schema that lists every problem at once, then frozen and
// passed in. Nothing else in the controller reads process.env.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';

export interface Listen {
  host: string;
  port: number;
}

export type TlsConfig =
  | { mode: 'self-signed'; secretName: string; dnsNames: string[]; ipAddresses: string[] }
  | { mode: 'files'; certFile: string; keyFile: string };

export interface ControllerConfig {
  /** This replica's name (the pod name): the leader-election identity. */
  identity: string;
  /** The controller's own namespace (Lease, CA Secret, broker keys). */
  namespace: string;
  /** A kubeconfig file; null means the in-cluster service account. */
  kubeconfig: string | null;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** HTTPS: the webhook, the config stream and the broker. */
  server: Listen;
  /** Plain HTTP: /healthz, /readyz, /metrics. */
  ops: Listen;
  tls: TlsConfig;
  webhook: {
    enabled: boolean;
    /** The MutatingWebhookConfiguration whose caBundle a self-signed install keeps current. */
    configurationName: string;
    /** Injection settings handed to the webhook (its own checks apply on top). */
    settings: Record<string, unknown>;
  };
  broker: {
    enabled: boolean;
    /** The `iss` of issued tokens and base of the discovery document; null: https://<first TLS name>:<server port>. */
    issuer: string | null;
    /** SPIFFE trust domain of the `sub` claim. */
    trustDomain: string;
    /** The Secret (in the controller's namespace) holding the signing keys all replicas share. */
    keySecretName: string;
  };
  leaderElection: {
    enabled: boolean;
    leaseName: string;
    leaseDurationSeconds: number;
    renewDeadlineSeconds: number;
    retryPeriodSeconds: number;
  };
  reconcile: {
    workers: number;
    /** Audiences the API server accepts (its --api-audiences, by default its issuer). */
    apiAudiences: string[];
    /** How soon to look again at a policy whose Secret is missing (Secrets are not watched). */
    missingSecretRecheckSeconds: number;
  };
  stream: { heartbeatSeconds: number };
}

export const DEFAULTS: ControllerConfig = {
  identity: '',
  namespace: 'mayfly-system',
  kubeconfig: null,
  logLevel: 'info',
  server: { host: '0.0.0.0', port: 8443 },
  ops: { host: '0.0.0.0', port: 8080 },
  tls: { mode: 'self-signed', secretName: 'mayfly-webhook-ca', dnsNames: ['mayfly-controller.mayfly-system.svc'], ipAddresses: [] },
  webhook: { enabled: true, configurationName: 'mayfly', settings: {} },
  broker: { enabled: true, issuer: null, trustDomain: 'cluster.local', keySecretName: 'mayfly-broker-keys' },
  leaderElection: { enabled: true, leaseName: 'mayfly-controller', leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 },
  reconcile: { workers: 4, apiAudiences: ['https://kubernetes.default.svc.cluster.local', 'https://kubernetes.default.svc', 'kubernetes.default.svc'], missingSecretRecheckSeconds: 30 },
  stream: { heartbeatSeconds: 15 },
};

const name = { type: 'string', minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' };
const listen = {
  type: 'object',
  additionalProperties: false,
  required: ['host', 'port'],
  properties: { host: { type: 'string', minLength: 1 }, port: { type: 'integer', minimum: 0, maximum: 65535, description: '0 picks a free port (tests)' } },
};

/** The schema of ControllerConfig. charts/mayfly/values.schema.json describes the same settings as chart values. */
export const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(DEFAULTS),
  properties: {
    identity: { ...name, description: 'must be a lowercase DNS name: set POD_NAME or --identity' },
    namespace: name,
    kubeconfig: { type: ['string', 'null'] },
    logLevel: { enum: ['debug', 'info', 'warn', 'error'] },
    server: listen,
    ops: listen,
    tls: {
      type: 'object',
      required: ['mode'],
      properties: { mode: { enum: ['self-signed', 'files'] } },
      oneOf: [
        {
          additionalProperties: false,
          required: ['mode', 'secretName', 'dnsNames', 'ipAddresses'],
          properties: {
            mode: { const: 'self-signed' },
            secretName: name,
            dnsNames: { type: 'array', minItems: 1, items: { type: 'string', minLength: 1 } },
            ipAddresses: { type: 'array', items: { type: 'string', minLength: 1 } },
          },
        },
        {
          additionalProperties: false,
          required: ['mode', 'certFile', 'keyFile'],
          properties: { mode: { const: 'files' }, certFile: { type: 'string', minLength: 1 }, keyFile: { type: 'string', minLength: 1 } },
        },
      ],
    },
    webhook: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'configurationName', 'settings'],
      properties: { enabled: { type: 'boolean' }, configurationName: name, settings: { type: 'object' } },
    },
    broker: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'issuer', 'trustDomain', 'keySecretName'],
      properties: {
        enabled: { type: 'boolean' },
        issuer: { type: ['string', 'null'], pattern: '^https://[^\\s/]+(/[^\\s]*)?$' },
        trustDomain: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$' },
        keySecretName: name,
      },
    },
    leaderElection: {
      type: 'object',
      additionalProperties: false,
      required: ['enabled', 'leaseName', 'leaseDurationSeconds', 'renewDeadlineSeconds', 'retryPeriodSeconds'],
      properties: {
        enabled: { type: 'boolean' },
        leaseName: name,
        leaseDurationSeconds: { type: 'integer', minimum: 2, maximum: 300 },
        renewDeadlineSeconds: { type: 'integer', minimum: 1, maximum: 299 },
        retryPeriodSeconds: { type: 'integer', minimum: 1, maximum: 60 },
      },
    },
    reconcile: {
      type: 'object',
      additionalProperties: false,
      required: ['workers', 'apiAudiences', 'missingSecretRecheckSeconds'],
      properties: {
        workers: { type: 'integer', minimum: 1, maximum: 64 },
        apiAudiences: { type: 'array', items: { type: 'string', minLength: 1 } },
        missingSecretRecheckSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
      },
    },
    stream: {
      type: 'object',
      additionalProperties: false,
      required: ['heartbeatSeconds'],
      properties: { heartbeatSeconds: { type: 'integer', minimum: 1, maximum: 300 } },
    },
  },
} as const;

export class ConfigError extends Error {
  readonly code = 'ERR_INVALID_CONFIG';
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid controller configuration:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
const validate = ajv.compile(CONFIG_SCHEMA);

function describe(e: ErrorObject): string {
  const at = e.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(config)';
  switch (e.keyword) {
    case 'additionalProperties':
      return `${at}: unknown setting ${JSON.stringify(e.params.additionalProperty)}`;
    case 'required':
      return `${at}: ${e.params.missingProperty as string} is required`;
    case 'enum':
      return `${at}: must be one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
    case 'minLength':
      return `${at}: ${e.parentSchema && 'description' in e.parentSchema ? String(e.parentSchema.description) : 'must be a lowercase DNS name'}`;
    default:
      return `${at}: ${e.message ?? e.keyword}`;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge for plain objects; arrays and scalars replace. */
export function merge<T>(base: T, over: unknown): T {
  if (!isObject(base) || !isObject(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = k in out ? merge(out[k], v) : v;
  return out as T;
}

function deepFreeze<T>(v: T): T {
  if (isObject(v) || Array.isArray(v)) {
    for (const x of Object.values(v as object)) deepFreeze(x);
    Object.freeze(v);
  }
  return v;
}

export const USAGE = `usage: mayfly controller [flags]

  --config FILE            YAML or JSON configuration (see charts/mayfly/values.yaml)
  --kubeconfig FILE        talk to the API server with this kubeconfig (default: in-cluster)
  --namespace NS           the controller's own namespace (env POD_NAMESPACE)
  --identity NAME          this replica's name for leader election (env POD_NAME)
  --listen HOST:PORT       HTTPS for the webhook, config stream and broker (default 0.0.0.0:8443)
  --ops-listen HOST:PORT   HTTP for /healthz, /readyz, /metrics (default 0.0.0.0:8080)
  --tls-cert-file FILE     serve this certificate (with --tls-key-file) instead of a self-signed one
  --tls-key-file FILE
  --log-level LEVEL        debug, info, warn or error (env MAYFLY_LOG_LEVEL)
  --workers N              concurrent reconciles
  --no-leader-election     reconcile without a lease (one replica only)
  --no-webhook             do not serve /mutate
  --no-broker              do not serve the token broker
`;

function parseListen(flag: string, text: string, problems: string[]): Listen | undefined {
  const m = /^(.*):(\d+)$/.exec(text);
  if (!m) {
    problems.push(`--${flag}: expected HOST:PORT, got ${JSON.stringify(text)}`);
    return undefined;
  }
  return { host: (m[1] as string).replace(/^\[|\]$/g, '') || '0.0.0.0', port: Number(m[2]) };
}

/** Builds the configuration from flags, environment and files; throws ConfigError listing every problem. */
export function loadConfig(argv: string[], env: Record<string, string | undefined>, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): ControllerConfig {
  const problems: string[] = [];
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        config: { type: 'string' },
        kubeconfig: { type: 'string' },
        namespace: { type: 'string' },
        identity: { type: 'string' },
        listen: { type: 'string' },
        'ops-listen': { type: 'string' },
        'tls-cert-file': { type: 'string' },
        'tls-key-file': { type: 'string' },
        'log-level': { type: 'string' },
        workers: { type: 'string' },
        'no-leader-election': { type: 'boolean' },
        'no-webhook': { type: 'boolean' },
        'no-broker': { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }

  let config: ControllerConfig = structuredClone(DEFAULTS);
  const file = values.config as string | undefined;
  if (file) {
    try {
      const parsed: unknown = parseYaml(readFile(file));
      if (parsed !== null && !isObject(parsed)) problems.push(`${file}: must hold a mapping`);
      else {
        config = merge(config, parsed ?? {});
        // A different TLS mode is a different shape: take it whole rather than merged into the default.
        const tls = (parsed as Record<string, unknown> | null)?.tls;
        if (isObject(tls) && tls.mode !== undefined && tls.mode !== DEFAULTS.tls.mode) config.tls = tls as unknown as TlsConfig;
      }
    } catch (err) {
      problems.push(`${file}: ${(err as Error).message.split('\n')[0]}`);
    }
  }

  // Environment: what the Deployment sets through the downward API, and KUBECONFIG for local runs.
  if (env.POD_NAME) config.identity = env.POD_NAME;
  if (env.POD_NAMESPACE) config.namespace = env.POD_NAMESPACE;
  if (env.KUBECONFIG && config.kubeconfig === null) config.kubeconfig = env.KUBECONFIG;
  if (env.MAYFLY_LOG_LEVEL) config.logLevel = env.MAYFLY_LOG_LEVEL as ControllerConfig['logLevel'];
  if (!config.identity && env.HOSTNAME) config.identity = env.HOSTNAME;

  if (values.kubeconfig) config.kubeconfig = values.kubeconfig as string;
  if (values.namespace) config.namespace = values.namespace as string;
  if (values.identity) config.identity = values.identity as string;
  if (values['log-level']) config.logLevel = values['log-level'] as ControllerConfig['logLevel'];
  if (values.listen) config.server = parseListen('listen', values.listen as string, problems) ?? config.server;
  if (values['ops-listen']) config.ops = parseListen('ops-listen', values['ops-listen'] as string, problems) ?? config.ops;
  if (values.workers) config.reconcile.workers = Number(values.workers);
  if (values['no-leader-election']) config.leaderElection.enabled = false;
  if (values['no-webhook']) config.webhook.enabled = false;
  if (values['no-broker']) config.broker.enabled = false;
  const cert = values['tls-cert-file'] as string | undefined;
  const key = values['tls-key-file'] as string | undefined;
  if (cert || key) {
    if (!cert || !key) problems.push('--tls-cert-file and --tls-key-file go together');
    else config.tls = { mode: 'files', certFile: cert, keyFile: key };
  }

  if (!validate(config)) {
    // oneOf reports each branch; keep the branch that matches the chosen mode.
    const errors = (validate.errors ?? []).filter((e) => !(e.keyword === 'oneOf' || (e.instancePath === '/tls' && e.keyword === 'const') || (e.schemaPath.includes('oneOf') && !branchMatches(e, config.tls?.mode))));
    problems.push(...errors.map(describe));
  }
  const lease = config.leaderElection;
  if (lease && lease.renewDeadlineSeconds >= lease.leaseDurationSeconds) problems.push('leaderElection: renewDeadlineSeconds must be shorter than leaseDurationSeconds');
  if (lease && lease.retryPeriodSeconds >= lease.renewDeadlineSeconds) problems.push('leaderElection: retryPeriodSeconds must be shorter than renewDeadlineSeconds');
  if (problems.length > 0) throw new ConfigError([...new Set(problems)]);
  return deepFreeze(config);
}

function branchMatches(e: ErrorObject, mode: string | undefined): boolean {
  const branch = /oneOf\/(\d)/.exec(e.schemaPath)?.[1];
  return (branch === '0' && mode === 'self-signed') || (branch === '1' && mode === 'files');
}
