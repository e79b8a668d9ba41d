// A pod's view for provider tests: projected tokens (minted by the fake
// cluster issuer the fake services trust) written where the token source reads
// them, and the provider context over them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadPolicies, type CompiledPolicy } from '@mayfly/crds';
import { createClusterIssuer, type ClusterIssuer } from '@mayfly/e2e/fakes/identity-provider';
import { createFileTokenSource, type TokenSource } from '../../../src/credentials/token-source.ts';
import { tokenPath } from '../../../src/credentials/token-paths.ts';
import type { ProviderContext } from '../../../src/credentials/providers/common.ts';

export interface ProviderEnv {
  issuer: ClusterIssuer;
  tokens: TokenSource;
  ctx: ProviderContext;
  /** The projected token currently on disk for an audience. */
  token(audience: string): string;
  write(audience: string, token: string): void;
  close(): void;
}

export async function providerEnv(audiences: string[], ctx: Partial<ProviderContext> = {}): Promise<ProviderEnv> {
  const issuer = await createClusterIssuer();
  const dir = mkdtempSync(join(tmpdir(), 'mayfly-provider-'));
  const current = new Map<string, string>();
  const write = (audience: string, token: string) => {
    const p = tokenPath(dir, audience);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, token);
    current.set(audience, token);
  };
  for (const a of audiences) write(a, await issuer.mint({ audience: a }));
  const tokens = createFileTokenSource({ dir });
  return {
    issuer,
    tokens,
    ctx: { tokens, identity: { namespace: 'payments', name: 'api-1', uid: 'uid-1', serviceAccount: 'payments-api' }, now: Date.now, timeoutMs: 5000, ...ctx },
    token: (a) => current.get(a) ?? '',
    write,
    close() {
      tokens.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function compile(spec: string, name = 'p'): CompiledPolicy {
  const [loaded] = loadPolicies(`apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: ${name}, namespace: payments, generation: 1 }
spec:
${spec}`);
  if (!loaded?.compiled) throw new Error(`invalid policy: ${JSON.stringify(loaded?.errors)}`);
  return loaded.compiled;
}
