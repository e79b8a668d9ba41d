// The aws provider against a fake AWS STS speaking the documented query API
// and XML (e2e/src/fakes/aws-sts.ts): the exchange, the inline session policy,
// throttling and 503 retried by the SDK, refusals, clock skew, and TLS trust.
import t, { type Test } from 'tap';
import { startFakeSts } from '@mayfly/e2e/fakes/aws-sts';
import { createAwsProvider } from '../../../src/credentials/providers/aws.ts';
import { compile, providerEnv } from '../helpers/provider-env.ts';

const ROLE = 'arn:aws:iam::123456789012:role/payments-s3';

async function setup(t: Test) {
  const env = await providerEnv(['sts.amazonaws.com']);
  const sts = await startFakeSts(env.issuer, { roles: [ROLE] });
  t.teardown(async () => {
    env.close();
    await sts.close();
  });
  const policy = compile(`
  subjects: { serviceAccounts: [payments-api] }
  destinations:
    - { host: invoices.s3.eu-central-1.amazonaws.com, methods: [GET, PUT], paths: ["/2026/*"] }
  credential:
    provider: { aws: { roleARN: "${ROLE}", region: eu-central-1, stsEndpoint: "${sts.url}" } }
    inject: { awsSigV4: {} }
`);
  const provider = createAwsProvider({ ...env.ctx, extraCA: sts.ca });
  t.teardown(() => provider.close?.());
  return { env, sts, policy, provider };
}


t.test('exchanges the projected token for scoped temporary credentials', async (t) => {
  const { env, sts, policy, provider } = await setup(t);
  const before = Date.now();
  const c = await provider.get(policy);
  const issued = sts.issued[0];
  t.ok(issued);
  t.same(c.aws, { accessKeyId: issued?.accessKeyId, secretAccessKey: issued?.secretAccessKey, sessionToken: issued?.sessionToken });
  t.equal(c.value, '');
  t.equal(c.id, issued?.accessKeyId, 'the access key id is the audit id');
  t.ok(c.expiresAt >= before + 3599_000 - 1000 && c.expiresAt <= Date.now() + 3600_000, 'one hour');
  const form = new URLSearchParams(sts.requests[0]?.body);
  t.equal(form.get('Action'), 'AssumeRoleWithWebIdentity');
  t.equal(form.get('RoleArn'), ROLE);
  t.equal(form.get('RoleSessionName'), 'mayfly-payments-api-1');
  t.equal(form.get('DurationSeconds'), '3600');
  t.equal(form.get('WebIdentityToken'), env.token('sts.amazonaws.com'), 'the projected token is the web identity');
  t.same(JSON.parse(form.get('Policy') ?? '{}'), {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: ['arn:aws:s3:::invoices/2026/*'] }, { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::invoices'], Condition: { StringLike: { 's3:prefix': ['2026/*'] } } }],
  }, 'scoped down to the policy\'s methods and paths');
  t.notOk(sts.requests[0]?.headers.authorization, 'the request is unsigned');
});

t.test('throttling and 503 are retried by the SDK; persistent throttling is unavailable', async (t) => {
  const { sts, policy, provider } = await setup(t);
  sts.throttle = 1;
  sts.unavailable = 1;
  const c = await provider.get(policy);
  t.ok(c.aws?.accessKeyId);
  t.equal(sts.requests.length, 3, 'two failures, one success');
  sts.throttle = 10;
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: 'aws sts: Throttling' });
});

t.test('refusals are ERR_CREDENTIAL_DENIED; an expired projected token never reaches STS', async (t) => {
  const { env, sts, policy, provider } = await setup(t);
  env.write('sts.amazonaws.com', await env.issuer.mint({ audience: 'someone-else' }));
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_DENIED', message: 'aws sts: InvalidIdentityToken' });
  env.write('sts.amazonaws.com', await env.issuer.mint({ audience: 'sts.amazonaws.com' }));
  sts.roles.clear();
  await t.rejects(provider.get(policy), { code: 'ERR_CREDENTIAL_DENIED', message: 'aws sts: AccessDenied' });
  env.write('sts.amazonaws.com', await env.issuer.mint({ audience: 'sts.amazonaws.com', ttlSeconds: -10 }));
  const n = sts.requests.length;
  await t.rejects(provider.get(policy), { code: 'ERR_NO_TOKEN' });
  t.equal(sts.requests.length, n, 'nothing sent');
});

t.test('clock skew: the lifetime STS granted counts from the local clock', async (t) => {
  const { env, sts, policy, provider } = await setup(t);
  // A token valid across the whole skew, so only the expiry arithmetic is under test.
  env.write('sts.amazonaws.com', await env.issuer.mint({ audience: 'sts.amazonaws.com', issuedSecondsAgo: 3 * 3600, ttlSeconds: 6 * 3600 }));
  for (const skew of [2 * 3600_000, -2 * 3600_000]) {
    sts.skewMs = skew;
    const c = await provider.get(policy);
    const left = c.expiresAt - Date.now();
    t.ok(left > 3590_000 && left <= 3600_000, `server clock ${skew > 0 ? 'ahead' : 'behind'} by 2h: ${Math.round(left / 1000)}s left`);
  }
});

t.test('an STS endpoint the trust store does not vouch for is not used', async (t) => {
  const { env, policy } = await setup(t);
  const untrusting = createAwsProvider(env.ctx);
  t.teardown(() => untrusting.close?.());
  await t.rejects(untrusting.get(policy), { code: 'ERR_CREDENTIAL_UNAVAILABLE' });
});
