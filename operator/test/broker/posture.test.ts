import t from 'tap';
import { checkPosture, normalizeImage } from '../../src/broker/posture.ts';

const digest = '@sha256:' + 'b'.repeat(64);

t.test('image references are normalised like the runtime reads them', async (t) => {
  t.equal(normalizeImage('nginx'), 'docker.io/library/nginx');
  t.equal(normalizeImage('acme/api:1'), 'docker.io/acme/api:1');
  t.equal(normalizeImage('ghcr.io/acme/api'), 'ghcr.io/acme/api');
  t.equal(normalizeImage('localhost/api'), 'localhost/api');
  t.equal(normalizeImage('registry:5000/api'), 'registry:5000/api');
});

t.test('registry prefixes and digests', async (t) => {
  const p = { allowedRegistries: ['ghcr.io/acme/'], requireDigest: true };
  t.same(checkPosture(p, [`ghcr.io/acme/api${digest}`]), { ok: true });
  t.same(checkPosture(p, [`ghcr.io/acme-evil/api${digest}`]), { ok: false, image: `ghcr.io/acme-evil/api${digest}`, reason: 'ERR_POSTURE_REGISTRY' });
  t.same(checkPosture(p, ['ghcr.io/acme/api:1.0']), { ok: false, image: 'ghcr.io/acme/api:1.0', reason: 'ERR_POSTURE_DIGEST' });
  t.same(checkPosture(p, [`ghcr.io/acme/api${digest}`, 'nginx']), { ok: false, image: 'nginx', reason: 'ERR_POSTURE_REGISTRY' }, 'every image counts');
  t.same(checkPosture({ allowedRegistries: ['docker.io/library/'], requireDigest: false }, ['nginx:1.27']), { ok: true });
  t.same(checkPosture({ allowedRegistries: [], requireDigest: false }, ['anything']), { ok: true });
});
