// Offline validation of WorkloadPolicies with the CRD's own rules: the
// structural OpenAPI schema (through ajv, with the API server's defaulting and
// strict field validation) and the x-kubernetes-validations CEL rules (through a
// CEL evaluator, on the defaulted object, as the API server evaluates them).
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { celEnv, parse as parseCel, plan as planCel, celError, type CelResult } from '@bufbuild/cel';
import { strings } from '@bufbuild/cel/ext';
import { workloadPolicySchema, type CelRule, type SchemaNode } from './crd.ts';
import { API_VERSION, KIND } from './names.ts';
import type { WorkloadPolicy } from './types.ts';

/** One problem, named by its field path as the API server names it. */
export interface FieldError {
  /** Field path in the API server's notation, e.g. `spec.destinations[0].host`. */
  path: string;
  message: string;
  /** `schema` for the structural schema, `rule` for a CEL rule, `object` for apiVersion/kind/metadata. */
  source: 'schema' | 'rule' | 'object';
}

export type ValidationResult =
  | { valid: true; errors: []; policy: WorkloadPolicy }
  | { valid: false; errors: FieldError[] };

const addFormats = addFormatsModule as unknown as (ajv: Ajv, formats: string[]) => Ajv;

/** Strict field validation, as `kubectl apply` asks of the API server: unknown fields are errors. */
function strictStructural(node: SchemaNode, isMetadata = false): SchemaNode {
  const out: SchemaNode = { ...node };
  if (node.properties) {
    out.properties = Object.fromEntries(
      Object.entries(node.properties).map(([k, v]) => [k, strictStructural(v, k === 'metadata')]),
    );
    if (node.additionalProperties === undefined && !node['x-kubernetes-preserve-unknown-fields'] && !isMetadata) {
      out.additionalProperties = false;
    }
  }
  if (node.items) out.items = strictStructural(node.items);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    out.additionalProperties = strictStructural(node.additionalProperties);
  }
  return out;
}

function listKeyOf(item: unknown, keys: string[]): string {
  return JSON.stringify(keys.map((k) => (item as Record<string, unknown>)?.[k]));
}

function buildAjv(): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, strictRequired: false, strictTypes: false });
  addFormats(ajv, ['date-time']);
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  for (const keyword of ['x-kubernetes-validations', 'x-kubernetes-map-type', 'x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-preserve-unknown-fields']) {
    ajv.addKeyword({ keyword });
  }
  return ajv.compile(strictStructural(workloadPolicySchema));
}

let structural: ValidateFunction | undefined;

/** `/spec/destinations/0/host` -> `spec.destinations[0].host` */
export function toFieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(seg) ? `[${seg}]` : out === '' ? seg : `.${seg}`;
  }
  return out;
}

function quote(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function schemaError(e: ErrorObject): FieldError {
  const at = toFieldPath(e.instancePath);
  const join = (p: string) => (at ? `${at}.${p}` : p);
  switch (e.keyword) {
    case 'required':
      return { path: join(e.params.missingProperty as string), message: 'Required value', source: 'schema' };
    case 'additionalProperties':
      return { path: join(e.params.additionalProperty as string), message: 'field not declared in schema', source: 'schema' };
    case 'enum':
      return {
        path: at,
        message: `Unsupported value: ${quote(e.data)}: supported values: ${(e.params.allowedValues as unknown[]).map(quote).join(', ')}`,
        source: 'schema',
      };
    case 'type':
      return { path: at, message: `Invalid value: must be of type ${e.params.type as string}`, source: 'schema' };
    default:
      return { path: at, message: `Invalid value: ${quote(e.data)}: ${e.message ?? e.keyword}`, source: 'schema' };
  }
}

/** Converts JSON to CEL input: objects become maps and schema integers become ints. */
function toCel(value: unknown, schema: SchemaNode | undefined): unknown {
  if (Array.isArray(value)) return value.map((v) => toCel(v, schema?.items));
  if (value !== null && typeof value === 'object') {
    const m = new Map<string, unknown>();
    for (const [k, v] of Object.entries(value)) {
      const child = schema?.properties?.[k] ?? (typeof schema?.additionalProperties === 'object' ? schema.additionalProperties : undefined);
      m.set(k, toCel(v, child));
    }
    return m;
  }
  if (typeof value === 'number' && schema?.type === 'integer' && Number.isInteger(value)) return BigInt(value);
  return value;
}

/** Each rule is parsed and planned once, then evaluated for every policy. */
const celPlans = new Map<string, (bindings: { self: never }) => CelResult>();
let env: ReturnType<typeof celEnv> | undefined;

function planFor(expr: string): (bindings: { self: never }) => CelResult {
  let p = celPlans.get(expr);
  if (!p) {
    env ??= celEnv({ funcs: strings });
    try {
      p = planCel(env, parseCel(expr)) as (bindings: { self: never }) => CelResult;
    } catch (err) {
      const failure = celError(err);
      p = () => failure;
    }
    celPlans.set(expr, p);
  }
  return p;
}

function evalRule(rule: CelRule, self: unknown): boolean | Error {
  try {
    const result = planFor(rule.rule)({ self: self as never });
    if (result instanceof Error) return result;
    return result === true;
  } catch (err) {
    return err as Error;
  }
}

/** `x-kubernetes-list-type: set|map`: a repeated item is reported at its own index, as the API server does. */
function listTypeErrors(schema: SchemaNode, value: unknown, path: string, out: FieldError[]): void {
  if (value === undefined || value === null) return;
  if (Array.isArray(value)) {
    const kind = schema['x-kubernetes-list-type'];
    if (kind === 'set' || kind === 'map') {
      const keys = kind === 'map' ? ((schema['x-kubernetes-list-map-keys'] as string[] | undefined) ?? []) : null;
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const key = keys ? listKeyOf(item, keys) : JSON.stringify(item);
        if (seen.has(key)) out.push({ path: `${path}[${i}]`, message: `Duplicate value: ${keys ? key : quote(item)}`, source: 'schema' });
        seen.add(key);
      });
    }
    if (schema.items) value.forEach((v, i) => listTypeErrors(schema.items as SchemaNode, v, `${path}[${i}]`, out));
  } else if (typeof value === 'object' && schema.properties) {
    for (const [k, child] of Object.entries(schema.properties)) {
      listTypeErrors(child, (value as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    }
  }
}

/** Evaluates every CEL rule of the schema against the value, depth first, as the API server does. */
function celErrors(schema: SchemaNode, value: unknown, path: string, out: FieldError[]): void {
  if (value === undefined || value === null) return;
  for (const rule of schema['x-kubernetes-validations'] ?? []) {
    const ok = evalRule(rule, toCel(value, schema));
    if (ok === true) continue;
    const at = rule.fieldPath ? `${path}${rule.fieldPath}` : path;
    const message = ok instanceof Error ? `rule evaluation error: ${ok.message}` : (rule.message ?? `failed rule: ${rule.rule}`);
    out.push({ path: at, message, source: 'rule' });
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((v, i) => celErrors(schema.items as SchemaNode, v, `${path}[${i}]`, out));
  } else if (typeof value === 'object' && schema.properties) {
    for (const [k, child] of Object.entries(schema.properties)) {
      celErrors(child, (value as Record<string, unknown>)[k], path ? `${path}.${k}` : k, out);
    }
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function objectErrors(obj: Record<string, unknown>): FieldError[] {
  const errors: FieldError[] = [];
  if (obj.apiVersion !== API_VERSION) {
    errors.push({ path: 'apiVersion', message: `Unsupported value: ${quote(obj.apiVersion)}: supported values: "${API_VERSION}"`, source: 'object' });
  }
  if (obj.kind !== KIND) {
    errors.push({ path: 'kind', message: `Unsupported value: ${quote(obj.kind)}: supported values: "${KIND}"`, source: 'object' });
  }
  const meta = obj.metadata as Record<string, unknown> | undefined;
  const name = meta?.name;
  if (typeof name !== 'string' || name === '') {
    errors.push({ path: 'metadata.name', message: 'Required value: name is required', source: 'object' });
  } else if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    errors.push({ path: 'metadata.name', message: `Invalid value: ${quote(name)}: must be a lowercase RFC 1123 subdomain`, source: 'object' });
  }
  return errors;
}

/**
 * Validates one WorkloadPolicy object with exactly the CRD's rules. Returns the
 * defaulted policy when valid, or every problem with its field path.
 */
export function validateWorkloadPolicy(input: unknown): ValidationResult {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    return { valid: false, errors: [{ path: '', message: 'a WorkloadPolicy must be an object', source: 'object' }] };
  }
  const obj = structuredClone(input) as Record<string, unknown>;
  const errors = objectErrors(obj);
  structural ??= buildAjv();
  if (!structural(obj)) errors.push(...(structural.errors ?? []).map(schemaError));
  listTypeErrors(workloadPolicySchema, obj, '', errors);
  celErrors(workloadPolicySchema, obj, '', errors);
  if (errors.length > 0) return { valid: false, errors: dedupe(errors) };
  return { valid: true, errors: [], policy: obj as unknown as WorkloadPolicy };
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${e.path}\u0000${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
