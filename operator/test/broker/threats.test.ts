// THREATS.md class 21 against the broker's token endpoint: subject tokens that
// are forged, misdirected, expired, of another pod or of a deleted pod are all
// refused, header-level forgeries without even asking the API server, and no
// outcome is remembered between requests.
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT } from 'jose';
import { hmacWithPublicKey, rawJwt } from '../../../sidecar/test/credentials/helpers/forge.ts';
import { brokerPolicy, pod, SA_ISSUER, setup } from './helpers.ts';

t.test('class 21 at the broker', async (t) => {
  const policy = brokerPolicy({ extra: '' });
  const s = await setup([policy]);
  const spki = s.api.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const payload = { iss: SA_ISSUER, sub: 'system:serviceaccount:payments:payments-api', aud: ['mayfly'], exp: Math.floor(Date.now() / 1000) + 600, 'kubernetes.io': { namespace: 'payments', serviceaccount: { name: 'payments-api' }, pod: { name: 'api-1', uid: 'uid-1' } } };
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  s.api.addPod(pod({ name: 'reporting-1', uid: 'uid-r', sa: 'reporting' }));

  const headerOnly: [string, string][] = [
    ['alg none', rawJwt({ alg: 'none', kid: 'cluster-key' }, payload, 'eA')],
    ['HMAC keyed with the public key', hmacWithPublicKey({ kid: 'cluster-key' }, payload, spki)],
    ['jku header', rawJwt({ alg: 'RS256', kid: 'cluster-key', jku: 'https://evil.example/jwks' }, payload)],
    ['x5u header', rawJwt({ alg: 'RS256', kid: 'cluster-key', x5u: 'https://evil.example/cert' }, payload)],
    ['embedded jwk', rawJwt({ alg: 'RS256', jwk: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } }, payload)],
    ['not a jwt', 'definitely-not-a-token'],
  ];
  for (const [name, token] of headerOnly) {
    const reviews = s.api.reviews;
    const res = await s.exchange(await s.base({ subject_token: token }));
    t.equal(res.statusCode, 400, name);
    t.equal(res.json().error, 'invalid_grant', name);
    t.equal(s.api.reviews, reviews, `${name}: refused without a TokenReview`);
    t.notOk(res.json().access_token);
  }

  const reviewed: [string, Promise<string> | string, string][] = [
    ['wrong audience', s.api.token({ aud: ['vault'] }), 'invalid_grant'],
    ['wrong issuer', s.api.token({ iss: 'https://evil.example' }), 'invalid_grant'],
    ['expired', s.api.token({ expSeconds: -60 }), 'invalid_grant'],
    ['not yet valid', s.api.token({ nbfOffset: 600 }), 'invalid_grant'],
    ['unknown kid (another signing key)', new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'other-key' }).sign(stranger), 'invalid_grant'],
    ['token of another pod (not selected)', s.api.token({ sa: 'reporting', pod: 'reporting-1', uid: 'uid-r' }), 'access_denied'],
    ['token naming a pod with another uid', s.api.token({ uid: 'uid-forged' }), 'invalid_grant'],
  ];
  for (const [name, token, error] of reviewed) {
    const res = await s.exchange(await s.base({ subject_token: await token }));
    t.equal(res.json().error, error, name);
    t.notOk(res.json().access_token, name);
  }
  t.ok(s.audit.every((r) => r.decision === 'refuse'), 'all refusals audited, nothing issued');
  t.equal(s.audit.length, headerOnly.length + reviewed.length);
});

t.test('a deleted or re-created pod\'s token is refused, and nothing is remembered either way', async (t) => {
  const s = await setup();
  const token = await s.api.token();
  t.equal((await s.exchange(await s.base({ subject_token: token }))).statusCode, 200, 'issued while the pod lives');
  s.api.pods.delete('payments/api-1');
  const gone = await s.exchange(await s.base({ subject_token: token }));
  t.equal(gone.json().error, 'invalid_grant', 'refused after deletion: the earlier success was not cached');
  s.api.addPod(pod({ uid: 'uid-2' }));
  t.equal((await s.exchange(await s.base({ subject_token: token }))).json().error, 'invalid_grant', 'refused for the re-created pod of the same name');
  const fresh = await s.api.token({ uid: 'uid-2' });
  t.equal((await s.exchange(await s.base({ subject_token: fresh }))).statusCode, 200, 'the new pod\'s own token works: the refusal was not cached');
  t.equal(s.api.reviews, 4, 'every request was reviewed afresh');
});
