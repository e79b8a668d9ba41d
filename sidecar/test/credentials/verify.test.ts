// THREATS.md class 21 against the verifier of broker tokens: each forged or
// misdirected token is refused with its own code. The remote JWKS resolver is
// exercised against a real HTTPS server on loopback.
import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createCA } from '@mayfly/e2e/pki';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { remoteJWKS, verifyMayflyToken, type VerifyOptions } from '../../src/credentials/verify.ts';
import { hmacWithPublicKey, rawJwt } from './helpers/forge.ts';

const ISSUER = 'https://mayfly-controller.mayfly-system.svc:8443';
const now = Math.floor(Date.now() / 1000);
const claims = {
  iss: ISSUER,
  sub: 'spiffe://cluster.local/ns/payments/sa/payments-api',
  aud: 'stripe-proxy',
  iat: now,
  nbf: now,
  exp: now + 600,
  jti: 'b2f4f0e8-6c1e-4d3e-9d43-5b0a1f1c2d3e',
  'mayfly.dev': { pod: { name: 'api-1', uid: 'uid-1' }, policy: 'payments/to-stripe' },
};

async function keyPair(kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK; spki: string }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }, spki: await exportSPKI(publicKey) };
}

function sign(key: CryptoKey, payload: Record<string, unknown>, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT', ...header }).sign(key);
}

t.test('class 21: every forged or misdirected token is refused', async (t) => {
  const real = await keyPair('k1');
  const attacker = await keyPair('k1');
  const opts: VerifyOptions = { issuer: ISSUER, audience: 'stripe-proxy', keys: { keys: [real.jwk] } };
  const good = await sign(real.privateKey, claims);
  t.match(await verifyMayflyToken(good, opts), { pod: { uid: 'uid-1' }, namespace: 'payments', serviceAccount: 'payments-api', policy: 'payments/to-stripe' }, 'the genuine token verifies');

  const cases: [string, string | Promise<string>, string, Partial<VerifyOptions>?][] = [
    ['alg none', rawJwt({ alg: 'none', kid: 'k1' }, claims, ''), 'ERR_TOKEN_ALG'],
    ['alg none with a signature', rawJwt({ alg: 'none', kid: 'k1' }, claims), 'ERR_TOKEN_ALG'],
    ['HS256 keyed with the public key (PEM)', hmacWithPublicKey({ kid: 'k1' }, claims, real.spki), 'ERR_TOKEN_ALG'],
    ['HS256 keyed with the public key (JWK)', hmacWithPublicKey({ kid: 'k1' }, claims, JSON.stringify(real.jwk)), 'ERR_TOKEN_ALG'],
    ['RS256 claimed', rawJwt({ alg: 'RS256', kid: 'k1' }, claims), 'ERR_TOKEN_ALG'],
    ['wrong aud', sign(real.privateKey, { ...claims, aud: 'github' }), 'ERR_TOKEN_CLAIMS'],
    ['two audiences', sign(real.privateKey, { ...claims, aud: ['stripe-proxy', 'github'] }), 'ERR_TOKEN_CLAIMS'],
    ['wrong iss', sign(real.privateKey, { ...claims, iss: 'https://evil.example' }), 'ERR_TOKEN_CLAIMS'],
    ['expired', sign(real.privateKey, { ...claims, iat: now - 1200, nbf: now - 1200, exp: now - 60 }), 'ERR_TOKEN_EXPIRED'],
    ['not yet valid', sign(real.privateKey, { ...claims, nbf: now + 600, exp: now + 1200 }), 'ERR_TOKEN_NOT_YET_VALID'],
    ['unknown kid', sign(real.privateKey, claims, { kid: 'k-unknown' }), 'ERR_TOKEN_KID'],
    ['no kid', rawJwt({ alg: 'ES256' }, claims), 'ERR_TOKEN_KID'],
    ['signed by another key under a known kid', sign(attacker.privateKey, claims), 'ERR_TOKEN_SIGNATURE'],
    ['tampered payload', (async () => { const [h, , s] = good.split('.'); return `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'spiffe://cluster.local/ns/payments/sa/admin' })).toString('base64url')}.${s}`; })(), 'ERR_TOKEN_SIGNATURE'],
    ['jku header', sign(attacker.privateKey, claims, { jku: 'https://evil.example/jwks.json' }), 'ERR_TOKEN_HEADER'],
    ['x5u header', sign(attacker.privateKey, claims, { x5u: 'https://evil.example/cert.pem' }), 'ERR_TOKEN_HEADER'],
    ['embedded jwk header', sign(attacker.privateKey, claims, { jwk: attacker.jwk }), 'ERR_TOKEN_HEADER'],
    ['x5c header', sign(attacker.privateKey, claims, { x5c: ['MIIB'] }), 'ERR_TOKEN_HEADER'],
    ['crit header', rawJwt({ alg: 'ES256', kid: 'k1', crit: ['b64'], b64: false }, claims), 'ERR_TOKEN_HEADER'],
    ['missing jti', sign(real.privateKey, { ...claims, jti: undefined }), 'ERR_TOKEN_CLAIMS'],
    ['subject not a spiffe id', sign(real.privateKey, { ...claims, sub: 'payments-api' }), 'ERR_TOKEN_CLAIMS'],
    ['token of another pod', sign(real.privateKey, { ...claims, 'mayfly.dev': { pod: { name: 'api-2', uid: 'uid-2' }, policy: 'payments/to-stripe' } }), 'ERR_TOKEN_CLAIMS', { expect: { podUID: 'uid-1' } }],
    ['token of another policy', sign(real.privateKey, { ...claims, 'mayfly.dev': { pod: { name: 'api-1', uid: 'uid-1' }, policy: 'payments/other' } }), 'ERR_TOKEN_CLAIMS', { expect: { policy: 'payments/to-stripe' } }],
    ['token of a deleted pod', good, 'ERR_TOKEN_REVOKED', { stillValid: async (c) => c.pod.uid !== 'uid-1' }],
    ['not a jwt', 'abc.def', 'ERR_TOKEN_MALFORMED'],
  ];
  for (const [name, token, code, extra] of cases) {
    await t.rejects(verifyMayflyToken(await token, { ...opts, ...extra }), { code }, name);
  }
});

t.test('the remote JWKS is fetched over verified TLS and an unknown kid cannot make it refetch in a loop', async (t) => {
  const real = await keyPair('k1');
  const ca = createCA('verify-test-ca');
  const leaf = ca.issueServer(['127.0.0.1']);
  let fetches = 0;
  const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    fetches += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [real.jwk] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;

  const untrusted = { issuer: ISSUER, audience: 'stripe-proxy', keys: remoteJWKS(url) };
  await t.rejects(verifyMayflyToken(await sign(real.privateKey, claims), untrusted), 'a JWKS server the CA bundle does not vouch for is not used');

  const keys = remoteJWKS(url, { ca: ca.certPem });
  const opts = { issuer: ISSUER, audience: 'stripe-proxy', keys };
  t.match(await verifyMayflyToken(await sign(real.privateKey, claims), opts), { pod: { uid: 'uid-1' } });
  const before = fetches;
  for (let i = 0; i < 20; i += 1) {
    await t.rejects(verifyMayflyToken(await sign(real.privateKey, claims, { kid: `random-${i}` }), opts), { code: 'ERR_TOKEN_KID' });
  }
  t.ok(fetches - before <= 1, `20 unknown kids caused ${fetches - before} refetch(es)`);
});
