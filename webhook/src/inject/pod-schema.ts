// The shape inject() needs from a pod, checked before anything reads it. The
// API server validates the full pod after admission; this only guards the
// fields Mayfly reads or changes, so a malformed object is an error, not a crash.
import { Ajv } from 'ajv';
import { WebhookError } from '../errors.ts';
import type { Pod } from './types.ts';

const stringMap = { type: 'object', additionalProperties: { type: 'string' } };
const named = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } };
const container = {
  type: 'object',
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1 },
    env: { type: 'array', items: named },
    volumeMounts: { type: 'array', items: { type: 'object', required: ['name', 'mountPath'], properties: { name: { type: 'string' }, mountPath: { type: 'string' } } } },
    volumeDevices: { type: 'array', items: named },
    securityContext: {
      type: 'object',
      properties: {
        runAsUser: { type: 'integer' },
        privileged: { type: 'boolean' },
        capabilities: { type: 'object', properties: { add: { type: 'array', items: { type: 'string' } } } },
      },
    },
  },
};

const podSchema = {
  type: 'object',
  required: ['spec'],
  properties: {
    metadata: { type: 'object', properties: { namespace: { type: 'string' }, labels: stringMap, annotations: stringMap } },
    spec: {
      type: 'object',
      required: ['containers'],
      properties: {
        containers: { type: 'array', minItems: 1, items: container },
        initContainers: { type: 'array', items: container },
        volumes: { type: 'array', items: named },
        hostNetwork: { type: 'boolean' },
        shareProcessNamespace: { type: 'boolean' },
        serviceAccountName: { type: 'string' },
        securityContext: { type: 'object', properties: { runAsUser: { type: 'integer' } } },
        os: { type: 'object', properties: { name: { type: 'string' } } },
      },
    },
  },
};

const validate = new Ajv({ allErrors: false, strict: false }).compile(podSchema);

export function assertPod(value: unknown): Pod {
  if (!validate(value)) {
    const e = validate.errors?.[0];
    const where = e?.instancePath ? e.instancePath.replaceAll('/', '.').slice(1) : 'pod';
    throw new WebhookError('ERR_MALFORMED_POD', `malformed pod: ${where} ${e?.message ?? 'is invalid'}`);
  }
  return value as Pod;
}
