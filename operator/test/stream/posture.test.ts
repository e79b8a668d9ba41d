// The sidecar cannot see its pod's images, so the config stream sends a policy
// with posture rules only to pods whose images satisfy them.
import t from 'tap';
import type { CompiledPolicy } from '@mayfly/crds';
import { policiesFor } from '../../src/stream/hub.ts';
import { compiled } from '../helpers/objects.ts';

const subject = { namespace: 'payments', serviceAccount: 'default', labels: { app: 'payments' } };
const open = compiled({ name: 'open' });
const base = compiled({ name: 'strict' });
const strict: CompiledPolicy = { ...base, posture: { allowedRegistries: ['ghcr.io/acme/'], requireDigest: true } };
const DIGEST = `@sha256:${'a'.repeat(64)}`;
const ids = (ps: CompiledPolicy[]) => ps.map((p) => p.name);

t.test('images that satisfy the posture get the policy', async (t) => {
  t.same(ids(policiesFor(subject, [open, strict], 0, [`ghcr.io/acme/api${DIGEST}`])), ['open', 'strict']);
});

t.test('an image from another registry, or not pinned, does not', async (t) => {
  t.same(ids(policiesFor(subject, [open, strict], 0, [`ghcr.io/acme/api${DIGEST}`, `docker.io/library/busybox${DIGEST}`])), ['open']);
  t.same(ids(policiesFor(subject, [open, strict], 0, ['ghcr.io/acme/api:1.0'])), ['open']);
  t.same(ids(policiesFor(subject, [open, strict], 0, [`ghcr.io/acme-evil/api${DIGEST}`])), ['open'], 'prefix ends with "/"');
});

t.test('unknown images: a policy with posture rules is withheld (fail closed)', async (t) => {
  t.same(ids(policiesFor(subject, [open, strict], 0, undefined)), ['open']);
});
