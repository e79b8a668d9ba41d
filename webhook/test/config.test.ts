// The webhook's configuration: defaults, every problem listed at once, frozen.
import t from 'tap';
import { parseWebhookConfig, settingsProblems, defaultSettings } from '@mayfly/webhook';
import { tokenFileName } from '@mayfly/webhook/inject/paths';

t.test('an empty configuration gets the documented defaults, frozen', async (t) => {
  const c = parseWebhookConfig({});
  t.equal(c.port, 9443);
  t.same(c.tls, { mode: 'self-signed', caSecretName: 'mayfly-webhook-ca', webhookConfigurationName: 'mayfly-injector', dnsNames: ['mayfly-webhook.mayfly-system.svc'] });
  t.equal(c.settings.sidecarUid, 1337);
  t.equal(c.settings.mode, 'transparent');
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.settings));
});

t.test('injection settings and cert-manager files are read', async (t) => {
  const c = parseWebhookConfig({ tls: { mode: 'files', certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' }, injection: { mode: 'explicit', image: 'registry.local/mayfly:1', ports: { proxy: 16000 }, nativeSidecars: false } });
  t.same(c.tls, { mode: 'files', certFile: '/tls/tls.crt', keyFile: '/tls/tls.key' });
  t.equal(c.settings.mode, 'explicit');
  t.equal(c.settings.ports.proxy, 16000);
  t.equal(c.settings.ports.health, 15021, 'unset ports keep their defaults');
  t.equal(c.settings.nativeSidecars, false);
});

t.test('every problem is listed in one error', async (t) => {
  let err: (Error & { code?: string }) | undefined;
  try {
    parseWebhookConfig({ port: 0, tls: { mode: 'carrier-pigeon' }, injection: { sidecarUid: 0, tokenExpirationSeconds: 60, colour: 'blue' } });
  } catch (e) {
    err = e as Error & { code?: string };
  }
  t.equal(err?.code, 'ERR_INVALID_CONFIG');
  for (const fragment of ['/port', '/tls/mode', '/injection/sidecarUid', '/injection/tokenExpirationSeconds', 'additional properties']) t.match(err?.message, fragment);
  t.throws(() => parseWebhookConfig({ injection: { excludeOutboundCidrs: ['10.0.0.0/33'], ports: { proxy: 15021 } } }), /excludeOutboundCidrs: "10.0.0.0\/33" is not a CIDR.*ports must be distinct|ports must be distinct.*excludeOutboundCidrs/);
});

t.test('settings checks', async (t) => {
  t.same(settingsProblems(defaultSettings()), []);
  t.match(settingsProblems(defaultSettings({ image: 'evil image; rm -rf /' })), [/not an image reference/]);
  t.match(settingsProblems(defaultSettings({ controllerUrl: 'ftp://x' })), [/controllerUrl/]);
});

t.test('token file names are stable, readable, distinct and safe path segments', async (t) => {
  t.equal(tokenFileName('mayfly'), tokenFileName('mayfly'));
  const names = ['mayfly', 'sts.amazonaws.com', 'api://AzureADTokenExchange', '//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/x', 'https://keycloak.example/realms/a', 'https://keycloak.example/realms/b', '../../etc/passwd'].map(tokenFileName);
  t.equal(new Set(names).size, names.length, 'no two audiences share a file');
  for (const n of names) t.match(n, /^[a-z0-9][a-z0-9-]*\/token$/, `${n} is a safe relative path: one directory per audience`);
  t.match(tokenFileName('sts.amazonaws.com'), /^sts-amazonaws-com-[0-9a-f]{8}\/token$/);
});
