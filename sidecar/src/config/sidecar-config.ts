// The sidecar's own configuration (`mayfly sidecar --config FILE`), parsed
// once, validated with ajv (every error listed), defaulted and frozen.
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { parseDuration } from '@mayfly/crds/compile';
import type { PodIdentity } from '../contracts.ts';
import { DEFAULT_LIMITS, type SidecarConfig } from './runtime.ts';
import { DEFAULT_CAPTURE_PORTS, DEFAULT_OUTBOUND_PORT, listenerPorts } from '../capture/rules.ts';

export { DEFAULT_LIMITS, type SidecarConfig } from './runtime.ts';

/** A static credential for local runs, per policy id ("namespace/name"). */
export interface StaticCredentialSpec {
  value?: string;
  aws?: { accessKeyId: string; secretAccessKey: string; sessionToken: string };
  /** Duration ("1h"); the value is re-issued with a fresh expiry after it. */
  expiresIn?: string;
  id?: string;
}

export interface LocalConfigFile {
  config: SidecarConfig;
  /** Where policies come from: the config file itself (its `policies:`) or `policyFile`. */
  policyFile: string | null;
  credentials: Record<string, StaticCredentialSpec>;
}


const port = { type: 'integer', minimum: 0, maximum: 65535 };
const duration = { type: 'string', pattern: '^([0-9]+h)?([0-9]+m)?([0-9]+s)?$', minLength: 2 };
const schema = {
  type: 'object',
  additionalProperties: false,
  required: ['identity'],
  properties: {
    identity: {
      type: 'object',
      additionalProperties: false,
      required: ['namespace', 'name', 'serviceAccount'],
      properties: {
        namespace: { type: 'string', minLength: 1, maxLength: 63 },
        name: { type: 'string', minLength: 1, maxLength: 253 },
        uid: { type: 'string' },
        serviceAccount: { type: 'string', minLength: 1 },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        images: { type: 'array', items: { type: 'string' } },
      },
    },
    listeners: {
      type: 'object',
      additionalProperties: false,
      properties: {
        address: { type: 'string' },
        outboundPort: port,
        capturePorts: { type: 'array', maxItems: 16, items: { type: 'integer', minimum: 1, maximum: 65535 } },
        transparent: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['captures', 'port'], properties: { captures: { type: 'integer', minimum: 1, maximum: 65535 }, port } } },
        proxy: { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: false, required: ['port'], properties: { port, address: { type: 'string' } } }] },
        admin: { anyOf: [{ type: 'null' }, { type: 'object', additionalProperties: false, required: ['port'], properties: { port, address: { type: 'string' } } }] },
      },
    },
    trustDir: { type: 'string', minLength: 1 },
    upstreamCaFiles: { type: 'array', items: { type: 'string' } },
    ca: {
      type: 'object',
      additionalProperties: false,
      properties: { lifetime: duration, leafLifetime: duration, maxLeaves: { type: 'integer', minimum: 1, maximum: 100000 }, nameConstraints: { type: 'boolean' } },
    },
    limits: { type: 'object', additionalProperties: false, properties: Object.fromEntries(Object.keys(DEFAULT_LIMITS).map((k) => [k, { type: 'integer', minimum: 1 }])) },
    logLevel: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    policies: { type: 'array' },
    policyFile: { type: 'string' },
    credentials: {
      type: 'object',
      propertyNames: { pattern: '^[a-z0-9-]+/[a-z0-9.-]+$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          value: { type: 'string', minLength: 1 },
          aws: { type: 'object', additionalProperties: false, required: ['accessKeyId', 'secretAccessKey', 'sessionToken'], properties: { accessKeyId: { type: 'string' }, secretAccessKey: { type: 'string' }, sessionToken: { type: 'string' } } },
          expiresIn: duration,
          id: { type: 'string' },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: false });
const validate = ajv.compile(schema);

export class SidecarConfigError extends Error {
  readonly code = 'ERR_SIDECAR_CONFIG';
  readonly errors: string[];
  constructor(errors: string[]) {
    super(`invalid sidecar config:\n  ${errors.join('\n  ')}`);
    this.name = 'SidecarConfigError';
    this.errors = errors;
  }
}

interface RawConfig {
  identity: Omit<PodIdentity, 'uid' | 'labels' | 'images'> & Partial<PodIdentity>;
  listeners?: { address?: string; outboundPort?: number; capturePorts?: number[]; transparent?: Array<{ captures: number; port: number }>; proxy?: { port: number; address?: string } | null; admin?: { port: number; address?: string } | null };
  trustDir?: string;
  upstreamCaFiles?: string[];
  ca?: { lifetime?: string; leafLifetime?: string; maxLeaves?: number; nameConstraints?: boolean };
  limits?: Partial<SidecarConfig['limits']>;
  logLevel?: string;
  policies?: unknown[];
  policyFile?: string;
  credentials?: Record<string, StaticCredentialSpec>;
}

/**
 * Parses the config text. `readFile` resolves upstreamCaFiles (relative to the
 * config file); policies stay in the text (the FileConfigSource reads them).
 */
export function parseSidecarConfig(text: string, readCa: (path: string) => string): LocalConfigFile {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new SidecarConfigError([`not YAML or JSON: ${(err as Error).message}`]);
  }
  if (!validate(raw)) throw new SidecarConfigError((validate.errors ?? []).map((e) => `${e.instancePath || '(root)'}: ${e.message ?? 'invalid'}${e.params && 'additionalProperty' in e.params ? ` (${String(e.params.additionalProperty)})` : ''}`));
  const r = raw as RawConfig;
  const errors: string[] = [];
  if (r.policies && r.policyFile) errors.push('set policies or policyFile, not both');
  for (const [id, c] of Object.entries(r.credentials ?? {})) if ((c.value === undefined) === (c.aws === undefined)) errors.push(`/credentials/${id}: set exactly one of value or aws`);
  if (r.listeners?.transparent && (r.listeners.capturePorts || r.listeners.outboundPort !== undefined)) errors.push('/listeners: set transparent, or capturePorts and outboundPort, not both');
  const transparent =
    r.listeners?.transparent ?? [...listenerPorts(r.listeners?.outboundPort ?? DEFAULT_OUTBOUND_PORT, r.listeners?.capturePorts ?? DEFAULT_CAPTURE_PORTS)].map(([captures, port]) => ({ captures, port }));
  const upstreamCa: string[] = [];
  for (const f of r.upstreamCaFiles ?? []) {
    try {
      upstreamCa.push(readCa(f));
    } catch (err) {
      errors.push(`/upstreamCaFiles: cannot read ${f}: ${(err as Error).message}`);
    }
  }
  if (errors.length > 0) throw new SidecarConfigError(errors);
  const config: SidecarConfig = {
    identity: { uid: '', labels: {}, images: [], ...r.identity },
    listeners: {
      address: r.listeners?.address ?? '::',
      transparent,
      proxy: r.listeners?.proxy === undefined ? { port: 15080, address: '127.0.0.1' } : r.listeners.proxy === null ? null : { port: r.listeners.proxy.port, address: r.listeners.proxy.address ?? '127.0.0.1' },
      admin: r.listeners?.admin === undefined ? { port: 15021, address: '::' } : r.listeners.admin === null ? null : { port: r.listeners.admin.port, address: r.listeners.admin.address ?? '::' },
    },
    trustDir: r.trustDir ?? '/var/run/mayfly/trust',
    upstreamCa,
    ca: {
      lifetimeMs: parseDuration(r.ca?.lifetime ?? '168h') * 1000,
      leafLifetimeMs: parseDuration(r.ca?.leafLifetime ?? '24h') * 1000,
      maxLeaves: r.ca?.maxLeaves ?? 1000,
      nameConstraints: r.ca?.nameConstraints ?? true,
    },
    limits: { ...DEFAULT_LIMITS, ...r.limits },
    logLevel: r.logLevel ?? 'info',
  };
  return deepFreeze({ config, policyFile: r.policyFile ?? null, credentials: r.credentials ?? {} });
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
