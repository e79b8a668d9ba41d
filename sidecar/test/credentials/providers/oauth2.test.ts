// oauth2TokenExchange (RFC 8693) and oauth2ClientCredentials (RFC 7523 client
// assertion) against a fake token endpoint speaking RFC 6749/8693
// (e2e/src/fakes/oauth.ts): parameters sent, RFC 6749 errors, throttling,
// per-provider caBundle, and lifetimes that do not depend on the server clock.
import t, { type Test } from 'tap';
import { startFakeOAuth } from '@mayfly/e2e/fakes/oauth';
import { createClientCredentialsProvider, createTokenExchangeProvider } from '../../../src/credentials/providers/oauth2.ts';
import { compile, providerEnv } from '../helpers/provider-env.ts';

async function setup(t: Test) {
  const env = await providerEnv(['mayfly-sts', 'api://AzureADTokenExchange']);
  const as = await startFakeOAuth(env.issuer);
  t.teardown(async () => {
    env.close();
    await as.close();
  });
  const indent = (pem: string) => pem.trim().split('\n').map((l) => `          ${l}`).join('\n');
  const exchange = compile(`
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: api.example.com }]
  credential:
    provider:
      oauth2TokenExchange:
        tokenURL: "${as.url}/oauth2/token"
        audience: payments-api-gateway
        resource: https://api.example.com/
        scopes: [invoices.read, invoices.write]
        caBundle: |
${indent(as.ca)}
    inject: { header: Authorization }
`);
  const client = compile(`
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: graph.microsoft.com }]
  credential:
    provider:
      oauth2ClientCredentials:
        tokenURL: "${as.url}/oauth2/token"
        clientID: 0b6e3c1e-1111-2222-3333-444455556666
        scopes: ["https://graph.microsoft.com/.default"]
        caBundle: |
${indent(as.ca)}
    inject: { header: Authorization }
`);
  return { env, as, exchange, client };
}

t.test('token exchange sends the projected token as subject_token and returns the access token', async (t) => {
  const { env, as, exchange } = await setup(t);
  as.audiences.add('payments-api-gateway');
  const before = Date.now();
  const c = await createTokenExchangeProvider(env.ctx).get(exchange);
  t.equal(c.value, as.issued[0]?.token);
  t.ok(c.expiresAt >= before + 3600_000 && c.expiresAt <= Date.now() + 3600_000);
  t.match(c.id, /^oauth2TokenExchange:[0-9a-f]{12}$/, 'a fingerprint, not the token');
  t.notOk(c.id.includes(c.value));
  const form = new URLSearchParams(as.requests[0]?.body);
  t.same(Object.fromEntries(form), {
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: env.token('mayfly-sts'),
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    audience: 'payments-api-gateway',
    resource: 'https://api.example.com/',
    scope: 'invoices.read invoices.write',
  });
});

t.test('client credentials present the projected token as an RFC 7523 client assertion', async (t) => {
  const { env, as, client } = await setup(t);
  as.clients.add('0b6e3c1e-1111-2222-3333-444455556666');
  const c = await createClientCredentialsProvider(env.ctx).get(client);
  t.equal(c.value, as.issued[0]?.token);
  t.same(Object.fromEntries(new URLSearchParams(as.requests[0]?.body)), {
    grant_type: 'client_credentials',
    client_id: '0b6e3c1e-1111-2222-3333-444455556666',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: env.token('api://AzureADTokenExchange'),
    scope: 'https://graph.microsoft.com/.default',
  });
});

t.test('RFC 6749 errors: refusals are DENIED, throttling is UNAVAILABLE', async (t) => {
  const { env, as, exchange, client } = await setup(t);
  const tx = createTokenExchangeProvider(env.ctx);
  const cc = createClientCredentialsProvider(env.ctx);
  await t.rejects(tx.get(exchange), { code: 'ERR_CREDENTIAL_DENIED', message: 'oauth2TokenExchange: invalid_target' }, 'audience not allowed');
  as.audiences.add('payments-api-gateway');
  env.write('mayfly-sts', await env.issuer.mint({ audience: 'somebody-else' }));
  await t.rejects(tx.get(exchange), { code: 'ERR_CREDENTIAL_DENIED', message: 'oauth2TokenExchange: invalid_grant' }, 'subject token for another audience');
  await t.rejects(cc.get(client), { code: 'ERR_CREDENTIAL_DENIED', message: 'oauth2ClientCredentials: invalid_client' }, 'unknown client');
  env.write('mayfly-sts', await env.issuer.mint({ audience: 'mayfly-sts' }));
  as.throttle = 1;
  await t.rejects(tx.get(exchange), { code: 'ERR_CREDENTIAL_UNAVAILABLE', message: 'oauth2TokenExchange: http 429 temporarily_unavailable' });
  t.ok((await tx.get(exchange)).value, 'works again once the server does');
});

t.test('the caBundle of the policy is what makes the endpoint trusted; relative lifetimes ignore server clock skew', async (t) => {
  const { env, as, exchange } = await setup(t);
  as.audiences.add('payments-api-gateway');
  const p = exchange.credential.provider;
  if (p.kind !== 'oauth2TokenExchange') throw new Error('unreachable');
  const noBundle = { ...exchange, credential: { ...exchange.credential, provider: { ...p, caBundle: undefined } } };
  delete (noBundle.credential.provider as { caBundle?: string }).caBundle;
  await t.rejects(createTokenExchangeProvider(env.ctx).get(noBundle), { code: 'ERR_CREDENTIAL_UNAVAILABLE' }, 'without it the TLS handshake fails');
  as.skewMs = -3 * 3600_000;
  env.write('mayfly-sts', await env.issuer.mint({ audience: 'mayfly-sts', issuedSecondsAgo: 4 * 3600, ttlSeconds: 8 * 3600 }));
  const c = await createTokenExchangeProvider(env.ctx).get(exchange);
  const left = c.expiresAt - Date.now();
  t.ok(left > 3590_000 && left <= 3600_000, 'expires_in counts from our clock');
});
