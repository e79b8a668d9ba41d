import t from 'tap';
import { ConfigError, DEFAULTS, loadConfig } from '../src/config.ts';

const env = { POD_NAME: 'mayfly-abc', POD_NAMESPACE: 'mayfly-system' };

t.test('defaults, then the file, then the environment, then flags', async (t) => {
  const files: Record<string, string> = {
    '/etc/mayfly/config.yaml': 'logLevel: warn\nreconcile:\n  workers: 8\nserver:\n  port: 9443\nnamespace: from-file\n',
  };
  const c = loadConfig(['--config', '/etc/mayfly/config.yaml', '--listen', '127.0.0.1:7443', '--no-webhook'], env, (p) => files[p] as string);
  t.equal(c.identity, 'mayfly-abc');
  t.equal(c.namespace, 'mayfly-system', 'env beats the file');
  t.equal(c.logLevel, 'warn');
  t.equal(c.reconcile.workers, 8);
  t.same(c.reconcile.apiAudiences, DEFAULTS.reconcile.apiAudiences, 'untouched defaults survive a partial file');
  t.same(c.server, { host: '127.0.0.1', port: 7443 }, 'flags beat the file');
  t.equal(c.webhook.enabled, false);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.server) && Object.isFrozen(c.reconcile.apiAudiences), 'frozen all the way down');
});

t.test('every problem is listed at once, with the setting it concerns', async (t) => {
  const file = 'logLevel: loud\nleaderElection:\n  leaseDurationSeconds: 5\n  renewDeadlineSeconds: 10\nbogus: 1\ntls:\n  mode: files\n';
  let err: unknown;
  try {
    loadConfig(['--config', 'c.yaml', '--workers', '0'], { POD_NAMESPACE: 'Bad_NS' }, () => file);
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError);
  const problems = (err as ConfigError).problems;
  t.same(
    [...problems].sort(),
    [
      '(config): unknown setting "bogus"',
      'identity: must be a lowercase DNS name: set POD_NAME or --identity',
      'leaderElection: renewDeadlineSeconds must be shorter than leaseDurationSeconds',
      'logLevel: must be one of "debug", "info", "warn", "error"',
      'namespace: must be a lowercase DNS name',
      'reconcile.workers: must be >= 1',
      'tls: certFile is required',
      'tls: keyFile is required',
    ],
  );
  t.equal((err as ConfigError).code, 'ERR_INVALID_CONFIG');
});

t.test('tls from files needs both flags', async (t) => {
  t.throws(() => loadConfig(['--tls-cert-file', 'a.crt'], env), { message: /--tls-cert-file and --tls-key-file go together/ });
  t.same(loadConfig(['--tls-cert-file', 'a.crt', '--tls-key-file', 'a.key'], env).tls, { mode: 'files', certFile: 'a.crt', keyFile: 'a.key' });
});

t.test('a YAML file that is not a mapping is refused', async (t) => {
  t.throws(() => loadConfig(['--config', 'x'], env, () => '- a\n- b\n'), { message: /x: must hold a mapping/ });
});
