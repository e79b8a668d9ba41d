// AdmissionReview v1 at the boundary: the request is validated with ajv before
// anything reads it, and responses are built here. Pure.
import { Ajv } from 'ajv';
import type { Operation } from 'fast-json-patch';
import { WebhookError } from './errors.ts';

export interface AdmissionRequest {
  uid: string;
  kind: { group: string; version: string; kind: string };
  resource?: { group: string; version: string; resource: string };
  subResource?: string;
  name?: string;
  namespace?: string;
  operation: 'CREATE' | 'UPDATE' | 'DELETE' | 'CONNECT';
  object: unknown;
  dryRun?: boolean;
}

export interface AdmissionReview {
  apiVersion: 'admission.k8s.io/v1';
  kind: 'AdmissionReview';
  request: AdmissionRequest;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
}

const gvk = {
  type: 'object',
  required: ['group', 'version', 'kind'],
  properties: { group: { type: 'string' }, version: { type: 'string' }, kind: { type: 'string' } },
};

const reviewSchema = {
  type: 'object',
  required: ['apiVersion', 'kind', 'request'],
  properties: {
    apiVersion: { const: 'admission.k8s.io/v1' },
    kind: { const: 'AdmissionReview' },
    request: {
      type: 'object',
      required: ['uid', 'kind', 'operation'],
      properties: {
        uid: { type: 'string', minLength: 1, maxLength: 128 },
        kind: gvk,
        name: { type: 'string' },
        namespace: { type: 'string' },
        operation: { enum: ['CREATE', 'UPDATE', 'DELETE', 'CONNECT'] },
        object: { type: ['object', 'null'] },
        dryRun: { type: 'boolean' },
      },
    },
  },
};

const validate = new Ajv({ allErrors: false, strict: false }).compile(reviewSchema);

/** Returns the typed review, or throws ERR_MALFORMED_REVIEW naming the first problem. */
export function parseReview(body: unknown): AdmissionReview {
  if (!validate(body)) {
    const e = validate.errors?.[0];
    const where = e?.instancePath ? e.instancePath.replaceAll('/', '.').slice(1) : 'body';
    const detail = e?.keyword === 'const' ? `must be ${JSON.stringify((e.params as { allowedValue: unknown }).allowedValue)}` : (e?.message ?? 'is invalid');
    throw new WebhookError('ERR_MALFORMED_REVIEW', `malformed AdmissionReview: ${where} ${detail}`);
  }
  return body as unknown as AdmissionReview;
}

export function reviewOf(response: AdmissionResponse): { apiVersion: 'admission.k8s.io/v1'; kind: 'AdmissionReview'; response: AdmissionResponse } {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

export function allow(uid: string, patch?: Operation[]): AdmissionResponse {
  if (!patch || patch.length === 0) return { uid, allowed: true };
  return { uid, allowed: true, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(patch)).toString('base64') };
}

export function deny(uid: string, code: number, reason: string, message: string): AdmissionResponse {
  return { uid, allowed: false, status: { code, reason, message } };
}
