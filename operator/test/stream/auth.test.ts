import t from 'tap';
import { checkPod, claimFromReview, tokenExpiry } from '../../src/stream/auth.ts';

const review = {
  authenticated: true,
  audiences: ['mayfly'],
  user: {
    username: 'system:serviceaccount:payments:api',
    extra: { 'authentication.kubernetes.io/pod-name': ['api-1'], 'authentication.kubernetes.io/pod-uid': ['u1'] },
  },
};

t.test('a pod-bound service-account token names its pod', async (t) => {
  t.same(claimFromReview(review), { namespace: 'payments', serviceAccount: 'api', podName: 'api-1', podUID: 'u1' });
});

t.test('refusals carry stable codes', async (t) => {
  t.throws(() => claimFromReview({ ...review, authenticated: false }), { code: 'ERR_UNAUTHENTICATED' });
  t.throws(() => claimFromReview({ ...review, audiences: ['vault'] }), { code: 'ERR_UNAUTHENTICATED' });
  t.throws(() => claimFromReview({ ...review, user: { username: 'alice' } }), { code: 'ERR_FORBIDDEN' });
  t.throws(() => claimFromReview({ ...review, user: { username: 'system:serviceaccount:payments:api' } }), { code: 'ERR_FORBIDDEN', message: 'token is not bound to a pod' });
  const claim = claimFromReview(review);
  t.throws(() => checkPod(claim, null), { code: 'ERR_FORBIDDEN' });
  t.throws(() => checkPod(claim, { uid: 'u2', serviceAccount: 'api', labels: {}, deleted: false }), { code: 'ERR_FORBIDDEN', message: /re-created/ });
  t.throws(() => checkPod(claim, { uid: 'u1', serviceAccount: 'other', labels: {}, deleted: false }), { code: 'ERR_FORBIDDEN' });
  t.doesNotThrow(() => checkPod(claim, { uid: 'u1', serviceAccount: 'api', labels: {}, deleted: false }));
});

t.test('tokenExpiry reads exp', async (t) => {
  const payload = Buffer.from(JSON.stringify({ exp: 1_800_000_000 })).toString('base64url');
  t.equal(tokenExpiry(`x.${payload}.y`), 1_800_000_000_000);
  t.equal(tokenExpiry('garbage'), null);
});
