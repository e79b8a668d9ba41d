// The sidecar's in-pod settings come from what the webhook injected; every
// problem is listed at start-up.
import t from 'tap';
import { clusterSettings, parseLabelsFile, ClusterEnvError } from '../src/sidecar-cluster.ts';

const ENV = {
  POD_NAME: 'api-7d9c', POD_NAMESPACE: 'payments', POD_UID: 'u-1', SERVICE_ACCOUNT: 'payments-api',
  MAYFLY_CONTROLLER_URL: 'https://mayfly-controller.mayfly-system.svc:8443', MAYFLY_MODE: 'transparent',
  MAYFLY_OUTBOUND_PORT: '15001', MAYFLY_PROXY_PORT: '15080', MAYFLY_HEALTH_PORT: '15021',
  MAYFLY_TOKEN_DIR: '/var/run/secrets/mayfly/tokens', MAYFLY_CA_DIR: '/var/run/mayfly/ca', MAYFLY_PODINFO_DIR: '/var/run/mayfly/podinfo',
  MAYFLY_TOKEN_AUDIENCES: 'mayfly,sts.amazonaws.com', MAYFLY_CAPTURE_PORTS: '80,443,8443', MAYFLY_BROKER_ISSUER: 'https://issuer.example',
};
const files = { '/var/run/mayfly/podinfo/labels': 'app="payments"\npod-template-hash="7d9c"\nquote="a\\"b"\n' };
const read = (p: string) => {
  const f = files[p as keyof typeof files];
  if (f === undefined) throw new Error('ENOENT');
  return f;
};

t.test('a complete environment', async (t) => {
  const s = clusterSettings(ENV, read);
  t.same(s.config.identity, { namespace: 'payments', name: 'api-7d9c', uid: 'u-1', serviceAccount: 'payments-api', labels: { app: 'payments', 'pod-template-hash': '7d9c', quote: 'a"b' }, images: [] });
  t.same(s.config.listeners.transparent, [{ captures: 80, port: 15001 }, { captures: 443, port: 15002 }, { captures: 8443, port: 15003 }], 'one listener per captured port');
  t.same(s.config.listeners.admin, { port: 15021, address: '::' });
  t.equal(s.config.trustDir, '/var/run/mayfly/ca');
  t.same(s.tokenAudiences, ['mayfly', 'sts.amazonaws.com']);
  t.equal(s.brokerIssuer, 'https://issuer.example', 'the broker issuer when the chart sets one');
  t.equal(clusterSettings({ ...ENV, MAYFLY_BROKER_ISSUER: undefined }, read).brokerIssuer, '', 'otherwise the controller URL is the issuer');
});

t.test('explicit mode binds no transparent listeners', async (t) => {
  t.same(clusterSettings({ ...ENV, MAYFLY_MODE: 'explicit' }, read).config.listeners.transparent, []);
});

t.test('every problem is listed', async (t) => {
  const bad = { ...ENV, POD_UID: '', MAYFLY_CONTROLLER_URL: 'http://insecure', MAYFLY_CAPTURE_PORTS: '80,http', MAYFLY_MODE: 'magic', MAYFLY_PODINFO_DIR: '/missing' };
  try {
    clusterSettings(bad, read);
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof ClusterEnvError);
    const e = err as ClusterEnvError;
    t.equal(e.errors.length, 5, e.errors.join('; '));
    t.match(e.message, /POD_UID is not set/);
    t.match(e.message, /must be an https:\/\/ URL/);
    t.match(e.message, /MAYFLY_CAPTURE_PORTS/);
    t.match(e.message, /transparent or explicit/);
    t.match(e.message, /cannot read pod labels/);
  }
});

t.test('labels file parsing tolerates odd lines', async (t) => {
  t.same(parseLabelsFile('a="1"\n\nnoequals\nb=raw\n'), { a: '1', b: 'raw' });
});
