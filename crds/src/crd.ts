// The WorkloadPolicy CustomResourceDefinition, loaded from the manifest that is
// the single source of truth for the API.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const CRD_PATH = fileURLToPath(new URL('../mayfly.dev_workloadpolicies.yaml', import.meta.url));

/** A JSON Schema node of the CRD, with the Kubernetes extensions we read. */
export interface SchemaNode {
  type?: string;
  description?: string;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: SchemaNode | boolean;
  required?: string[];
  default?: unknown;
  'x-kubernetes-validations'?: CelRule[];
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  [keyword: string]: unknown;
}

export interface CelRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: string;
}

export interface CustomResourceDefinition {
  apiVersion: string;
  kind: string;
  metadata: { name: string };
  spec: {
    group: string;
    names: { kind: string; plural: string; shortNames?: string[] };
    versions: Array<{ name: string; schema: { openAPIV3Schema: SchemaNode } }>;
  };
}

export const crd: CustomResourceDefinition = parse(readFileSync(CRD_PATH, 'utf8'));

export const workloadPolicySchema: SchemaNode = (() => {
  const version = crd.spec.versions.find((v) => v.name === 'v1alpha1');
  if (!version) throw new Error('CRD manifest has no v1alpha1 version');
  return version.schema.openAPIV3Schema;
})();
