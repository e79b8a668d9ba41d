// The broker's HTTP surface through fastify's inject: RFC 8693 requests and
// responses, RFC 6749 errors, discovery and JWKS, secretRef release, and one
// audit record per issue and refusal. The issued JWT is checked with the
// sidecar's verifier against the JWKS the broker publishes.
import t from 'tap';
import { JWT_TOKEN_TYPE, SECRET_TOKEN_TYPE, policyResource } from '@mayfly/sidecar/credentials/broker-protocol';
import { verifyMayflyToken } from '@mayfly/sidecar/credentials/verify';
import { decodeProtectedHeader, decodeJwt } from 'jose';
import { brokerPolicy, pod, setup } from './helpers.ts';

const ISSUER = 'https://mayfly-controller.mayfly-system.svc:8443';

t.test('issues an ES256 JWT with exactly the promised claims, verifiable with the published JWKS', async (t) => {
  const { app, exchange, base, audit } = await setup();
  const before = Math.floor(Date.now() / 1000);
  const res = await exchange(await base());
  t.equal(res.statusCode, 200);
  t.equal(res.headers['cache-control'], 'no-store');
  const body = res.json();
  t.match(body, { issued_token_type: JWT_TOKEN_TYPE, token_type: 'Bearer', expires_in: 600 });
  const header = decodeProtectedHeader(body.access_token);
  t.same(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
  t.equal(header.alg, 'ES256');
  const claims = decodeJwt(body.access_token);
  t.same(Object.keys(claims).sort(), ['aud', 'exp', 'iat', 'iss', 'jti', 'mayfly.dev', 'nbf', 'sub']);
  t.match(claims, { iss: ISSUER, sub: 'spiffe://cluster.local/ns/payments/sa/payments-api', aud: 'stripe-proxy', 'mayfly.dev': { pod: { name: 'api-1', uid: 'uid-1' }, policy: 'payments/to-stripe' } });
  t.ok((claims.iat ?? 0) >= before && claims.nbf === claims.iat && claims.exp === (claims.iat ?? 0) + 600);

  const jwks = (await app.inject('/.well-known/jwks.json')).json();
  const verified = await verifyMayflyToken(body.access_token, { issuer: ISSUER, audience: 'stripe-proxy', keys: jwks });
  t.match(verified, { namespace: 'payments', serviceAccount: 'payments-api', pod: { uid: 'uid-1' }, policy: 'payments/to-stripe' });
  t.equal(audit.length, 1);
  t.match(audit[0], { decision: 'issue', namespace: 'payments', pod: 'api-1', podUID: 'uid-1', policy: 'payments/to-stripe', audience: 'stripe-proxy', jti: claims.jti, kid: header.kid });
  t.notMatch(JSON.stringify(audit), body.access_token.split('.')[2] as string, 'the token never appears in the audit');
});

t.test('discovery document and JWKS', async (t) => {
  const { app, keys } = await setup();
  const doc = (await app.inject('/.well-known/openid-configuration')).json();
  t.match(doc, { issuer: ISSUER, jwks_uri: `${ISSUER}/.well-known/jwks.json`, token_endpoint: `${ISSUER}/v1/token`, id_token_signing_alg_values_supported: ['ES256'] });
  const jwks = (await app.inject('/.well-known/jwks.json')).json();
  t.equal(jwks.keys.length, 2, 'active key and its pre-published successor');
  t.ok(jwks.keys.some((k: { kid: string }) => k.kid === keys.jwks().keys[0]?.kid));
  for (const k of jwks.keys) t.notOk('d' in k, 'no private key material');
});

t.test('lifetime never outlives the subject token or the policy', async (t) => {
  const soon = new Date(Date.now() + 120_000).toISOString();
  const { exchange, base, api } = await setup([brokerPolicy({ extra: `  expiresAt: "${soon}"` })]);
  const res = await exchange(await base());
  t.ok(res.json().expires_in <= 120 && res.json().expires_in >= 118, 'capped at the policy expiry');
  const { exchange: ex2, base: base2, api: api2 } = await setup();
  const short = await ex2(await base2({ subject_token: await api2.token({ expSeconds: 60 }) }));
  t.equal(short.statusCode, 200);
  t.ok(short.json().expires_in <= 60, 'capped at the subject token expiry');
  const foreign = await ex2(await base2({ subject_token: await api.token() }));
  t.equal(foreign.json().error, 'invalid_grant', 'a token signed by another cluster key is refused');
});

t.test('RFC 6749 errors for malformed requests', async (t) => {
  const { exchange, base, app, api, audit } = await setup();
  const cases: [string, Record<string, string>, number, string][] = [
    ['wrong grant type', await base({ grant_type: 'client_credentials' }), 400, 'unsupported_grant_type'],
    ['missing subject token type', await base({ subject_token_type: '' }), 400, 'invalid_request'],
    ['actor token', await base({ actor_token: 'x', actor_token_type: JWT_TOKEN_TYPE }), 400, 'invalid_request'],
    ['no resource', await base({ resource: '' }), 400, 'invalid_target'],
    ['resource not a policy', await base({ resource: 'https://evil/' }), 400, 'invalid_target'],
    ['odd requested type', await base({ requested_token_type: 'urn:x' }), 400, 'invalid_request'],
    ['audience of another policy', await base({ audience: 'github' }), 400, 'invalid_target'],
    ['policy of another namespace', await base({ resource: policyResource('other/to-stripe') }), 400, 'invalid_target'],
  ];
  for (const [name, params, status, error] of cases) {
    const res = await exchange(params);
    t.equal(res.statusCode, status, name);
    t.equal(res.json().error, error, name);
    t.equal(typeof res.json().error_description, 'string');
    t.equal(res.headers['cache-control'], 'no-store');
  }
  const repeated = await app.inject({ method: 'POST', url: '/v1/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: `${new URLSearchParams(await base()).toString()}&resource=${encodeURIComponent(policyResource('payments/x'))}` });
  t.equal(repeated.json().error, 'invalid_request', 'repeated parameter');
  const json = await app.inject({ method: 'POST', url: '/v1/token', payload: await base() });
  t.equal(json.statusCode, 400);
  t.equal(json.json().error, 'invalid_request', 'a JSON body is not a token request');
  t.equal(audit.length, cases.length + 2, 'every refusal is audited');
  t.ok(audit.every((r) => r.decision === 'refuse' && typeof r.reason === 'string'));
  api.down = true;
  const down = await exchange(await base());
  t.equal(down.statusCode, 503);
  t.equal(down.json().error, 'temporarily_unavailable');
});

t.test('secretRef: the value goes only to an allowed pod, as a lease', async (t) => {
  const policy = brokerPolicy({ provider: '{ secretRef: { name: stripe-key, key: apiKey } }' });
  const { exchange, base, api, audit } = await setup([policy]);
  const params = await base({ requested_token_type: SECRET_TOKEN_TYPE });
  delete (params as Record<string, string>).audience;
  t.equal((await exchange(params)).json().error, 'invalid_target', 'missing secret is refused');
  api.secrets.set('payments/stripe-key', { apiKey: 'sk_live_123' });
  const ok = await exchange(params);
  t.equal(ok.statusCode, 200);
  t.same(ok.json(), { access_token: 'sk_live_123', issued_token_type: SECRET_TOKEN_TYPE, token_type: 'N_A', expires_in: 300 });
  t.notMatch(JSON.stringify(audit), /sk_live_123/, 'the secret never reaches the audit log');
  api.addPod(pod({ name: 'reporting-1', uid: 'uid-r', sa: 'reporting' }));
  const other = await exchange({ ...params, subject_token: await api.token({ sa: 'reporting', pod: 'reporting-1', uid: 'uid-r' }) });
  t.equal(other.statusCode, 400);
  t.equal(other.json().error, 'access_denied', 'a pod the policy does not select gets nothing');
  t.notMatch(other.body, /sk_live/);
});
