// Golden-file cases for inject(): test/fixtures/inject/<case>.pod.yaml in, and
// <case>.patch.json + <case>.injected.yaml out (or <case>.result.json for a
// skip, a refusal or an error). An optional <case>.context.yaml holds
// `settings` overrides and the `policies` (WorkloadPolicy objects) of the case.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadPolicies, type CompiledPolicy } from '@mayfly/crds';
import { defaultSettings, inject, isWebhookError, type InjectContext, type InjectResult, type InjectSettings } from '@mayfly/webhook';

export const FIXTURES = fileURLToPath(new URL('./fixtures/inject/', import.meta.url));

/** The settings every golden case starts from (stable, unlike the defaults). */
export const GOLDEN_SETTINGS: InjectSettings = defaultSettings({
  image: 'ghcr.io/mayfly-dev/mayfly:0.1.0',
  controllerUrl: 'https://mayfly-controller.mayfly-system.svc:8443',
  excludeOutboundCidrs: ['10.96.0.1/32'],
});

export interface GoldenCase {
  name: string;
  pod: unknown;
  context: InjectContext;
}

export function caseNames(): string[] {
  return readdirSync(FIXTURES).filter((f) => f.endsWith('.pod.yaml')).map((f) => f.slice(0, -'.pod.yaml'.length)).sort();
}

export function compilePolicies(docs: unknown[]): CompiledPolicy[] {
  if (docs.length === 0) return [];
  return loadPolicies(stringify(docs)).map((p) => {
    if (!p.compiled) throw new Error(`invalid policy ${p.name}: ${JSON.stringify(p.errors)}`);
    return p.compiled;
  });
}

export function loadCase(name: string): GoldenCase {
  const pod: unknown = parse(readFileSync(join(FIXTURES, `${name}.pod.yaml`), 'utf8'));
  const contextFile = join(FIXTURES, `${name}.context.yaml`);
  const raw = (existsSync(contextFile) ? parse(readFileSync(contextFile, 'utf8')) : {}) as { settings?: Partial<InjectSettings>; policies?: unknown[] };
  return { name, pod, context: { settings: { ...GOLDEN_SETTINGS, ...raw.settings }, policies: compilePolicies(raw.policies ?? []) } };
}

export type GoldenOutcome = InjectResult | { error: { code: string; message: string } };

export function run(c: GoldenCase): GoldenOutcome {
  try {
    return inject(structuredClone(c.pod), c.context);
  } catch (err) {
    if (isWebhookError(err)) return { error: { code: err.code, message: err.message } };
    throw err;
  }
}

/** The files a case's outcome is written to, by name. */
export function render(outcome: GoldenOutcome): Record<string, string> {
  if ('patch' in outcome) {
    return {
      'patch.json': `${JSON.stringify(outcome.patch, null, 2)}\n`,
      'injected.yaml': stringify(outcome.pod, { lineWidth: 0 }),
    };
  }
  return { 'result.json': `${JSON.stringify(outcome, null, 2)}\n` };
}

export const OUTPUT_KINDS = ['patch.json', 'injected.yaml', 'result.json'];
