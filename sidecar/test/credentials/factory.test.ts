// createCredentialSource end to end over the fakes: one source serving policies
// of several provider kinds, pre-warmed by sync, answering from the cache, and
// dropping (and for Vault revoking) a policy's credential the moment the policy
// goes away.
import t from 'tap';
import { Registry } from 'prom-client';
import { startFakeOAuth } from '@mayfly/e2e/fakes/oauth';
import { startFakeSts } from '@mayfly/e2e/fakes/aws-sts';
import { startFakeVault } from '@mayfly/e2e/fakes/vault';
import { createCredentialSource } from '../../src/credentials/factory.ts';
import { promCredentialMetrics } from '../../src/credentials/metrics.ts';
import { compile, providerEnv } from './helpers/provider-env.ts';
import { flush } from './helpers/fake-clock.ts';

t.test('one source, several providers, pre-warm, cache, drop on sync', async (t) => {
  const env = await providerEnv(['mayfly-sts', 'sts.amazonaws.com', 'vault']);
  const [as, sts, vault] = await Promise.all([startFakeOAuth(env.issuer), startFakeSts(env.issuer, { roles: ['arn:aws:iam::123456789012:role/r'] }), startFakeVault(env.issuer)]);
  t.teardown(async () => {
    env.close();
    await Promise.all([as.close(), sts.close(), vault.close()]);
  });
  as.audiences.add('gateway');
  vault.roles.set('payments', { audience: 'vault', ttl: 3600 });
  vault.dynamic.set('database/creds/readonly', { ttl: 600, maxTtl: 3600 });
  const dest = '  subjects: { serviceAccounts: [payments-api] }\n  destinations: [{ host: api.example.com }]\n';
  const oauth = compile(`${dest}  credential:\n    provider: { oauth2TokenExchange: { tokenURL: "${as.url}/oauth2/token", audience: gateway } }\n    inject: { header: Authorization }`, 'oauth');
  const aws = compile(`  subjects: { serviceAccounts: [payments-api] }\n  destinations: [{ host: sqs.eu-central-1.amazonaws.com }]\n  credential:\n    provider: { aws: { roleARN: "arn:aws:iam::123456789012:role/r", region: eu-central-1, stsEndpoint: "${sts.url}" } }\n    inject: { awsSigV4: {} }`, 'aws');
  const db = compile(`${dest}  credential:\n    provider: { vault: { address: "${vault.url}", role: payments, secretPath: database/creds/readonly, field: password } }\n    inject: { basic: { username: app } }`, 'db');

  const registry = new Registry();
  const source = createCredentialSource({
    tokenSource: env.tokens,
    identity: env.ctx.identity,
    brokerURL: 'https://127.0.0.1:1',
    extraCA: as.ca, // every fake in this process is signed by the same throwaway CA
    metrics: promCredentialMetrics(registry),
  });
  t.teardown(() => source.close());
  source.sync([oauth, aws, db]);
  await source.settled();
  t.equal(as.issued.length, 1, 'oauth pre-warmed');
  t.equal(sts.issued.length, 1, 'aws pre-warmed');
  t.equal(vault.leases.size, 1, 'vault pre-warmed');

  t.equal((await source.get(oauth)).value, as.issued[0]?.token);
  t.equal((await source.get(aws)).aws?.accessKeyId, sts.issued[0]?.accessKeyId);
  const secret = await source.get(db);
  t.equal(vault.leases.get(secret.id)?.revoked, false);
  const counted = async (name: string) => (await registry.getSingleMetric(name)?.get())?.values.reduce((n, v) => n + v.value, 0) ?? 0;
  t.equal(await counted('mayfly_credential_hits_total'), 3, 'all three served from the pre-warmed cache');
  t.equal(await counted('mayfly_credential_misses_total'), 0);
  t.equal(await counted('mayfly_credential_refreshes_total'), 3);

  source.sync([oauth, aws]);
  await flush();
  for (let i = 0; i < 50 && !vault.leases.get(secret.id)?.revoked; i += 1) await new Promise((r) => setTimeout(r, 20));
  t.ok(vault.leases.get(secret.id)?.revoked, 'the dropped policy\'s lease is revoked at once');
  t.equal(as.issued.length, 1, 'the other entries were kept, not re-fetched');
});
