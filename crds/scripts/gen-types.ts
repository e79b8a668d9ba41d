// Generates src/types.gen.ts from the CRD's OpenAPI schema.
//   node crds/scripts/gen-types.ts           # write
//   node crds/scripts/gen-types.ts --check   # fail if the file is out of date
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compile, type JSONSchema } from 'json-schema-to-typescript';
import { workloadPolicySchema, type SchemaNode } from '../src/crd.ts';

const OUT = fileURLToPath(new URL('../src/types.gen.ts', import.meta.url));

/** Drops Kubernetes extensions and gives nested objects stable type names. */
function clean(node: SchemaNode, name: string): JSONSchema {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === 'format' || k === 'default') continue;
    out[k] = v;
  }
  if (node.type === 'object' && node.properties) out.title = NAMES[name] ?? name;
  if (node.properties) {
    out.properties = Object.fromEntries(
      Object.entries(node.properties).map(([k, v]) => [k, clean(v, name + k.charAt(0).toUpperCase() + k.slice(1))]),
    );
    out.additionalProperties = false;
  }
  if (node.items) out.items = clean(node.items, `${name}Item`);
  if (node.additionalProperties && typeof node.additionalProperties === 'object') {
    out.additionalProperties = clean(node.additionalProperties, `${name}Value`);
  }
  return out as JSONSchema;
}

/** Friendlier names for the types users meet most. */
const NAMES: Record<string, string> = {
  WorkloadPolicySpecSubjects: 'Subjects',
  WorkloadPolicySpecSubjectsPodSelector: 'LabelSelector',
  WorkloadPolicySpecSubjectsPodSelectorMatchExpressionsItem: 'LabelSelectorRequirement',
  WorkloadPolicySpecPosture: 'Posture',
  WorkloadPolicySpecPostureImages: 'ImagePosture',
  WorkloadPolicySpecConditions: 'Conditions',
  WorkloadPolicySpecConditionsTimeWindowsItem: 'TimeWindow',
  WorkloadPolicySpecDestinationsItem: 'Destination',
  WorkloadPolicySpecCredential: 'Credential',
  WorkloadPolicySpecCredentialProvider: 'Provider',
  WorkloadPolicySpecCredentialProviderBroker: 'BrokerProvider',
  WorkloadPolicySpecCredentialProviderSecretRef: 'SecretRefProvider',
  WorkloadPolicySpecCredentialProviderOauth2TokenExchange: 'OAuth2TokenExchangeProvider',
  WorkloadPolicySpecCredentialProviderOauth2ClientCredentials: 'OAuth2ClientCredentialsProvider',
  WorkloadPolicySpecCredentialProviderAws: 'AwsProvider',
  WorkloadPolicySpecCredentialProviderGcp: 'GcpProvider',
  WorkloadPolicySpecCredentialProviderVault: 'VaultProvider',
  WorkloadPolicySpecCredentialInject: 'Injection',
  WorkloadPolicySpecCredentialInjectBasic: 'BasicInjection',
  WorkloadPolicySpecCredentialInjectAwsSigV4: 'AwsSigV4Injection',
  WorkloadPolicyStatusConditionsItem: 'Condition',
  WorkloadPolicyStatusDriftItem: 'DriftedPod',
};

const spec = workloadPolicySchema.properties?.spec;
const status = workloadPolicySchema.properties?.status;
if (!spec || !status) throw new Error('schema has no spec or status');

const banner = '// Generated from crds/mayfly.dev_workloadpolicies.yaml by crds/scripts/gen-types.ts. Do not edit.\n/* eslint-disable */';
const options = { bannerComment: '', additionalProperties: false, strictIndexSignatures: true, ignoreMinAndMaxItems: true, format: true, declareExternallyReferenced: true } as const;
const body = [
  await compile(clean(spec, 'WorkloadPolicySpec'), 'WorkloadPolicySpec', options),
  await compile(clean(status, 'WorkloadPolicyStatus'), 'WorkloadPolicyStatus', options),
].join('\n');
const text = `${banner}\n${body.replace(/\n{3,}/g, '\n\n').trim()}\n`;

if (process.argv.includes('--check')) {
  if (readFileSync(OUT, 'utf8') !== text) {
    console.error('crds/src/types.gen.ts is out of date: run node crds/scripts/gen-types.ts');
    process.exit(1);
  }
} else {
  writeFileSync(OUT, text);
  console.log(`wrote ${OUT}`);
}
