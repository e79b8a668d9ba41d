// The vault provider against a fake of Vault's HTTP API (e2e/src/fakes/vault.ts):
// JWT login, KV v2 and dynamic secrets, lease renewal up to the max TTL,
// revocation on release and close, and Vault's error responses.
import t, { type Test } from 'tap';
import { startFakeVault } from '@mayfly/e2e/fakes/vault';
import { createVaultProvider } from '../../../src/credentials/providers/vault.ts';
import { compile, providerEnv } from '../helpers/provider-env.ts';

async function setup(t: Test, secretPath = 'secret/data/stripe', field = 'apiKey') {
  const env = await providerEnv(['vault']);
  const v = await startFakeVault(env.issuer);
  v.roles.set('payments', { audience: 'vault', ttl: 3600 });
  v.kv.set('secret/data/stripe', { apiKey: 'sk_live_vault' });
  v.dynamic.set('database/creds/readonly', { ttl: 600, maxTtl: 1500 });
  t.teardown(async () => {
    env.close();
    await v.close();
  });
  const policy = compile(`
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: api.stripe.com }]
  credential:
    provider: { vault: { address: "${v.url}", role: payments, secretPath: "${secretPath}", field: ${field} } }
    inject: { header: Authorization }
`);
  const provider = createVaultProvider({ ...env.ctx, extraCA: v.ca });
  return { env, v, policy, provider };
}

t.test('JWT login and a KV v2 read', async (t) => {
  const { env, v, policy, provider } = await setup(t);
  const c = await provider.get(policy);
  t.equal(c.value, 'sk_live_vault');
  const left = c.expiresAt - Date.now();
  t.ok(left > 290_000 && left <= 300_000, 'a KV value is read again after 5 minutes');
  const [login, read] = v.requests;
  t.equal(login?.path, '/v1/auth/jwt/login');
  t.same(JSON.parse(login?.body ?? '{}'), { role: 'payments', jwt: env.token('vault') });
  t.equal(read?.path, '/v1/secret/data/stripe');
  t.match(read?.headers['x-vault-token'], /^hvs\./);
  await provider.get(policy);
  t.equal(v.requests.filter((r) => r.path.endsWith('/login')).length, 1, 'the vault token is reused');
});

t.test('a dynamic secret: renewed while Vault allows, replaced at its max TTL, revoked on release and close', async (t) => {
  const { v, policy, provider } = await setup(t, 'database/creds/readonly', 'password');
  const first = await provider.get(policy);
  t.match(first.id, /^database\/creds\/readonly\//, 'the lease id is the audit id');
  const lease = v.leases.get(first.id);
  t.ok(lease);
  const renewed = await provider.get(policy);
  t.equal(renewed.id, first.id, 'same lease');
  t.equal(renewed.value, first.value, 'same password');
  t.equal(lease?.renewals, 1);
  // Push the lease near its max TTL: renewal can no longer extend it enough.
  if (lease) lease.issuedAt -= 1400_000;
  const replaced = await provider.get(policy);
  t.not(replaced.id, first.id, 'a new secret once the lease cannot grow');
  await provider.release?.(first);
  t.ok(v.leases.get(first.id)?.revoked, 'released lease revoked');
  t.notOk(v.leases.get(replaced.id)?.revoked);
  await provider.close?.();
  t.ok(v.leases.get(replaced.id)?.revoked, 'close revokes the rest');
  t.ok([...v.tokens.values()].every((tok) => tok.revoked), 'and the vault tokens');
});

t.test('Vault errors', async (t) => {
  const { env, v, policy, provider } = await setup(t);
  env.write('vault', await env.issuer.mint({ audience: 'not-vault' }));
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_DENIED', message: 'vault login: http 400' });
  env.write('vault', await env.issuer.mint({ audience: 'vault' }));
  v.sealed = true;
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: 'vault login: http 503' });
  v.sealed = false;
  v.throttle = 1;
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: 'vault login: http 429' });
  t.equal((await provider.get(policy)).value, 'sk_live_vault');
  const { policy: missing, provider: p2 } = await setup(t, 'secret/data/stripe', 'nope');
  await t.rejects(p2.get(missing), { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: 'vault field nope: credential missing or not header-safe' });
});
