// The broker's pure decision, case by case.
import t from 'tap';
import { JWT_TOKEN_TYPE, SECRET_TOKEN_TYPE } from '@mayfly/sidecar/credentials/broker-protocol';
import { authorize, brokerPodFrom, type BrokerPod } from '../../src/broker/authorize.ts';
import type { TokenReviewStatus } from '../../src/stream/auth.ts';
import { brokerPolicy, pod } from './helpers.ts';

const review: TokenReviewStatus = {
  authenticated: true,
  audiences: ['mayfly'],
  user: { username: 'system:serviceaccount:payments:payments-api', extra: { 'authentication.kubernetes.io/pod-name': ['api-1'], 'authentication.kubernetes.io/pod-uid': ['uid-1'] } },
};
const live = (o: Parameters<typeof pod>[0] = {}): BrokerPod => brokerPodFrom(pod(o), { names: ['mayfly-sidecar'] });
const jwt = { policyID: 'payments/to-stripe', audience: 'stripe-proxy', requestedTokenType: JWT_TOKEN_TYPE } as const;
const now = Date.parse('2026-01-14T12:00:00Z');

t.test('allows the selected pod, bound token, matching audience', async (t) => {
  const d = authorize(brokerPolicy(), live(), review, now, jwt);
  t.match(d, { allow: true, claim: { namespace: 'payments', serviceAccount: 'payments-api', podName: 'api-1', podUID: 'uid-1' } });
});

t.test('refusals, each with its code', async (t) => {
  const p = brokerPolicy();
  const cases: [string, ReturnType<typeof authorize>, string, string][] = [
    ['unauthenticated', authorize(p, live(), { authenticated: false }, now, jwt), 'invalid_grant', 'ERR_TOKEN_REJECTED'],
    ['wrong audience', authorize(p, live(), { ...review, audiences: ['vault'] }, now, jwt), 'invalid_grant', 'ERR_TOKEN_REJECTED'],
    ['not pod bound', authorize(p, live(), { ...review, user: { username: 'system:serviceaccount:payments:payments-api' } }, now, jwt), 'invalid_grant', 'ERR_NOT_POD_BOUND'],
    ['a user, not a service account', authorize(p, live(), { ...review, user: { username: 'alice' } }, now, jwt), 'invalid_grant', 'ERR_NOT_POD_BOUND'],
    ['pod gone', authorize(p, null, review, now, jwt), 'invalid_grant', 'ERR_POD_GONE'],
    ['pod terminating', authorize(p, live({ deleting: true }), review, now, jwt), 'invalid_grant', 'ERR_POD_GONE'],
    ['pod re-created', authorize(p, live({ uid: 'uid-2' }), review, now, jwt), 'invalid_grant', 'ERR_POD_RECREATED'],
    ['pod changed service account', authorize(p, live({ sa: 'other' }), review, now, jwt), 'invalid_grant', 'ERR_POD_SERVICE_ACCOUNT'],
    ['no such policy', authorize(undefined, live(), review, now, jwt), 'invalid_target', 'ERR_POLICY_UNKNOWN'],
    ['policy of another namespace', authorize(brokerPolicy({ namespace: 'other' }), live(), review, now, { ...jwt, policyID: 'other/to-stripe' }), 'invalid_target', 'ERR_POLICY_UNKNOWN'],
    ['another audience', authorize(p, live(), review, now, { ...jwt, audience: 'github' }), 'invalid_target', 'ERR_AUDIENCE_MISMATCH'],
    ['secret asked of a jwt policy', authorize(p, live(), review, now, { ...jwt, requestedTokenType: SECRET_TOKEN_TYPE }), 'invalid_target', 'ERR_TOKEN_TYPE_MISMATCH'],
    ['another service account', authorize(brokerPolicy({ extra: '' }), live({ sa: 'reporting' }), { ...review, user: { ...review.user, username: 'system:serviceaccount:payments:reporting' } }, now, jwt), 'access_denied', 'ERR_NOT_SELECTED'],
    ['posture: registry', authorize(brokerPolicy({ extra: '  posture: { images: { allowedRegistries: [ghcr.io/acme/] } }' }), live({ images: ['docker.io/evil/api'] }), review, now, jwt), 'access_denied', 'ERR_POSTURE_REGISTRY'],
    ['posture: digest', authorize(brokerPolicy({ extra: '  posture: { images: { requireDigest: true } }' }), live({ images: ['ghcr.io/acme/api:latest'] }), review, now, jwt), 'access_denied', 'ERR_POSTURE_DIGEST'],
    ['outside the window', authorize(brokerPolicy({ extra: '  conditions: { timeWindows: [{ days: [Sat, Sun], start: "00:00", end: "24:00", timeZone: UTC }] }' }), live(), review, now, jwt), 'access_denied', 'ERR_OUTSIDE_TIME_WINDOW'],
    ['policy expired', authorize(brokerPolicy({ extra: '  expiresAt: "2026-01-01T00:00:00Z"' }), live(), review, now, jwt), 'access_denied', 'ERR_POLICY_EXPIRED'],
  ];
  for (const [name, d, error, reason] of cases) t.match(d, { allow: false, error, reason }, name);
});

t.test('Mayfly\'s own containers are left out of posture; a look-alike with another image is not', async (t) => {
  const p = pod({ images: ['ghcr.io/acme/api@sha256:' + 'a'.repeat(64)] });
  t.same(brokerPodFrom(p, { names: ['mayfly-sidecar'], image: 'ghcr.io/mayfly/mayfly:1' }).images, ['ghcr.io/acme/api@sha256:' + 'a'.repeat(64)]);
  t.equal(brokerPodFrom(p, { names: ['mayfly-sidecar'], image: 'ghcr.io/mayfly/mayfly:2' }).images.length, 2);
});

t.test('Audit mode issues despite posture or time, and says what it would have refused', async (t) => {
  const p = brokerPolicy({ extra: '  mode: Audit\n  posture: { images: { allowedRegistries: [ghcr.io/acme/] } }' });
  t.match(authorize(p, live({ images: ['docker.io/evil/api'] }), review, now, jwt), { allow: true, wouldDeny: 'ERR_POSTURE_REGISTRY' });
  t.match(authorize(p, live(), { authenticated: false }, now, jwt), { allow: false, reason: 'ERR_TOKEN_REJECTED' }, 'identity is never relaxed');
});

t.test('secretRef policies release a secret only to a secret request without an audience', async (t) => {
  const p = brokerPolicy({ provider: '{ secretRef: { name: stripe-key, key: apiKey } }' });
  const secret = { policyID: 'payments/to-stripe', requestedTokenType: SECRET_TOKEN_TYPE } as const;
  t.match(authorize(p, live(), review, now, secret), { allow: true });
  t.match(authorize(p, live(), review, now, { ...secret, requestedTokenType: JWT_TOKEN_TYPE }), { allow: false, reason: 'ERR_TOKEN_TYPE_MISMATCH' });
  t.match(authorize(p, live(), review, now, { ...secret, audience: 'x' }), { allow: false, reason: 'ERR_AUDIENCE_MISMATCH' });
});
