// The gcp provider against fakes of Google's STS and IAM Credentials
// (e2e/src/fakes/gcp.ts): both calls and their parameters, Google's error
// shapes, 429, and clock skew of the absolute expireTime.
import t, { type Test } from 'tap';
import { startFakeGcp } from '@mayfly/e2e/fakes/gcp';
import { createGcpProvider } from '../../../src/credentials/providers/gcp.ts';
import { compile, providerEnv } from '../helpers/provider-env.ts';

const WIF = '//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/cluster/providers/mayfly';
const SA = 'invoices@acme-prod.iam.gserviceaccount.com';

async function setup(t: Test) {
  const env = await providerEnv([WIF]);
  const g = await startFakeGcp(env.issuer, WIF);
  g.serviceAccounts.add(SA);
  t.teardown(async () => {
    env.close();
    await g.close();
  });
  const policy = compile(`
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: storage.googleapis.com }]
  credential:
    provider: { gcp: { audience: "${WIF}", serviceAccount: ${SA}, stsEndpoint: "${g.url}", iamCredentialsEndpoint: "${g.url}", scopes: ["https://www.googleapis.com/auth/devstorage.read_only"] } }
    inject: { header: Authorization }
`);
  return { env, g, policy, provider: createGcpProvider({ ...env.ctx, extraCA: g.ca }) };
}

t.test('STS exchange, then impersonation of the service account', async (t) => {
  const { env, g, policy, provider } = await setup(t);
  const c = await provider.get(policy);
  t.equal(c.value, g.issued[0]?.token);
  t.notOk(c.id.includes(c.value));
  const left = c.expiresAt - Date.now();
  t.ok(left > 3590_000 && left <= 3600_000);
  const [sts, iam] = g.requests;
  t.equal(sts?.path, '/v1/token');
  t.same(Object.fromEntries(new URLSearchParams(sts?.body)), {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    audience: WIF,
    scope: 'https://www.googleapis.com/auth/cloud-platform',
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    subject_token: env.token(WIF),
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  });
  t.equal(iam?.path, `/v1/projects/-/serviceAccounts/${encodeURIComponent(SA)}:generateAccessToken`);
  t.match(iam?.headers.authorization, /^Bearer fed_/);
  t.same(JSON.parse(iam?.body ?? '{}'), { scope: ['https://www.googleapis.com/auth/devstorage.read_only'], lifetime: '3600s' });
});

t.test('errors: a wrong audience and a forbidden service account are DENIED, quota is UNAVAILABLE', async (t) => {
  const { env, g, policy, provider } = await setup(t);
  env.write(WIF, await env.issuer.mint({ audience: 'sts.amazonaws.com' }));
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_DENIED', message: 'gcp sts: invalid_grant' });
  env.write(WIF, await env.issuer.mint({ audience: WIF }));
  g.serviceAccounts.clear();
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_DENIED', message: 'gcp iam credentials: PERMISSION_DENIED' });
  g.serviceAccounts.add(SA);
  g.throttle = 1;
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: 'gcp sts: http 429' });
  t.ok((await provider.get(policy)).value);
});

t.test('clock skew: expireTime is read against the server\'s Date', async (t) => {
  const { env, g, policy, provider } = await setup(t);
  env.write(WIF, await env.issuer.mint({ audience: WIF, issuedSecondsAgo: 3 * 3600, ttlSeconds: 6 * 3600 }));
  for (const skew of [90 * 60_000, -90 * 60_000]) {
    g.skewMs = skew;
    const left = (await provider.get(policy)).expiresAt - Date.now();
    t.ok(left > 3590_000 && left <= 3600_000, `server ${skew > 0 ? 'ahead' : 'behind'} by 90 min: ${Math.round(left / 1000)}s left`);
  }
});
