// AWS end to end on the real control plane: an unmodified AWS SDK app in an
// injected pod signs with the placeholder keys the webhook gave it; the sidecar
// exchanges the pod's real projected token (audience sts.amazonaws.com) at STS
// with AssumeRoleWithWebIdentity, strips the app's signature and signs each
// allowed request with the temporary credentials.
//
// AWS cannot run here: STS is a fake that speaks its documented query API and
// XML and checks the web identity token against this API server's own OIDC keys
// (as IAM checks a cluster registered as an OIDC provider); S3 is a recording
// server that verifies SigV4 as AWS does (e2e/src/fakes/sigv4.ts).
import t from 'tap';
import { fileURLToPath } from 'node:url';
import type { JSONWebKeySet } from 'jose';
import { createWorld, type World } from '../src/world.ts';
import { header, type Reply } from '../src/upstream.ts';
import { startFakeSts, type FakeSts } from '../src/fakes/aws-sts.ts';
import { apiServerIssuer } from '../src/fakes/identity-provider.ts';
import { verifySigV4, type Verified } from '../src/fakes/sigv4.ts';
import { AWS_PLACEHOLDER_ACCESS_KEY_ID } from '@mayfly/webhook/inject/paths';

t.setTimeout(600_000);

const ROLE = 'arn:aws:iam::123456789012:role/report-writer';
const STS_HOST = 'sts.us-east-1.amazonaws.com';
const S3_HOST = 'acme-reports.s3.us-east-1.amazonaws.com';
const APP = fileURLToPath(new URL('../src/apps/s3-app.ts', import.meta.url));

let world: World;
let sts: FakeSts;

t.before(async () => {
  world = await createWorld();
  const discovery = JSON.parse((await world.cp.kubectl(['get', '--raw', '/.well-known/openid-configuration'])).stdout) as { issuer: string };
  const jwks = JSON.parse((await world.cp.kubectl(['get', '--raw', '/openid/v1/jwks'])).stdout) as JSONWebKeySet;
  const ip = await world.address(STS_HOST);
  const tls = world.apiCa.issueServer([STS_HOST]);
  sts = await startFakeSts(await apiServerIssuer({ issuer: discovery.issuer, jwks }), { roles: [ROLE], listen: { host: ip, port: 443, tls: { ...tls, caPem: world.apiCa.certPem } } });
});

t.teardown(async () => {
  await sts?.close();
  await world?.stop();
});

t.test('an AWS SDK request with placeholder keys reaches S3 re-signed with STS credentials', async (t) => {
  const objects = new Map<string, string>();
  const verified: Verified[] = [];
  const s3 = await world.api(S3_HOST, {
    reply: async (r): Promise<Reply> => {
      const rawHeaders = r.headers.flat();
      const headers = Object.fromEntries(r.headers) as Record<string, string>;
      const secrets = Object.fromEntries(sts.issued.map((s) => [s.accessKeyId, { secret: s.secretAccessKey, token: s.sessionToken }]));
      const v = await verifySigV4({ method: r.method, url: r.path, headers, rawHeaders }, Buffer.from(r.body), secrets);
      verified.push(v);
      if (!v.ok) return { status: 403, headers: { 'content-type': 'application/xml' }, body: `<Error><Code>${v.why}</Code></Error>` };
      if (r.method === 'PUT') {
        objects.set(r.path.split('?')[0] as string, r.body);
        return { status: 200, headers: { etag: '"1"' }, body: '' };
      }
      return { status: 200, headers: { 'content-type': 'text/plain' }, body: objects.get(r.path.split('?')[0] as string) ?? '' };
    },
  });
  await world.namespace('analytics');
  const ca = world.apiCa.certPem.trimEnd().split('\n').map((l) => `        ${l}`).join('\n');
  await world.apply(`apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: reports-to-s3, namespace: analytics }
spec:
  subjects: { serviceAccounts: [report-writer] }
  destinations:
    - host: ${S3_HOST}
      methods: [GET, PUT]
      paths: ["/reports/*"]
      allowPrivateAddresses: true
      caBundle: |
${ca}
  credential:
    provider:
      aws: { roleARN: "${ROLE}", region: us-east-1, stsEndpoint: "https://${STS_HOST}" }
    inject: { awsSigV4: { service: s3 } }
`);
  const podName = await world.deployment({ namespace: 'analytics', name: 'report-writer', serviceAccount: 'report-writer', labels: { app: 'report-writer' } });
  const pod = await world.runPod('analytics', podName);
  const env = (await pod.app(['sh', '-c', 'echo $AWS_ACCESS_KEY_ID'])).stdout.trim();
  t.equal(env, AWS_PLACEHOLDER_ACCESS_KEY_ID, 'the app holds only the placeholder key the webhook injected');

  const run = await pod.app(['node', APP, 'acme-reports', 'reports/2026-11.csv', 'total,42'], { timeoutMs: 60_000 });
  t.equal(run.code, 0, run.stdout + run.stderr);
  t.match(run.stdout, 'read back: total,42', 'PutObject then GetObject worked through the sidecar');

  t.equal(sts.issued.length, 1, 'one AssumeRoleWithWebIdentity for the pod (cached after)');
  const stsCall = sts.requests.find((r) => r.body.includes('AssumeRoleWithWebIdentity'));
  t.match(stsCall?.body ?? '', `RoleArn=${encodeURIComponent(ROLE)}`);
  t.equal(s3.received.length, 2, 'S3 received the PUT and the GET');
  t.ok(verified.every((v) => v.ok), `every request's signature verifies with the STS credentials: ${JSON.stringify(verified)}`);
  t.ok(verified.every((v) => v.accessKeyId === sts.issued[0]?.accessKeyId), 'signed with the temporary access key');
  t.equal(s3.received.filter((r) => header(r, 'authorization').join().includes(AWS_PLACEHOLDER_ACCESS_KEY_ID)).length, 0, 'the placeholder key never reached S3');
  t.same(s3.received.map((r) => header(r, 'x-amz-security-token')), s3.received.map(() => [sts.issued[0]?.sessionToken]), 'the session token went with each request');

  const denied = await pod.app(['node', APP, 'acme-reports', 'private/secret.csv', 'x'], { timeoutMs: 60_000 });
  t.not(denied.code, 0, 'a key outside /reports/* is refused by the sidecar');
  t.equal(s3.received.length, 2, 'and S3 saw nothing of it');
});
