// The WorkloadPolicy API on a real kube-apiserver: the CRD installs, documents
// itself through `kubectl explain`, accepts the valid examples, rejects each
// invalid one at the field it names, and `mayfly policy validate` agrees with the
// API server on every example. Status is a subresource.
import t from 'tap';
import { validateWorkloadPolicy, CRD_PATH } from '@mayfly/crds';
import { startControlPlane, type ControlPlane } from '@mayfly/e2e';
import { examples } from '../../crds/test/examples.ts';

let cp: ControlPlane;

t.before(async () => {
  cp = await startControlPlane();
  const applied = await cp.kubectl(['apply', '-f', CRD_PATH]);
  if (applied.code !== 0) throw new Error(`kubectl apply of the CRD failed: ${applied.stderr}`);
  const established = await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', 'crd/workloadpolicies.mayfly.dev']);
  if (established.code !== 0) throw new Error(established.stderr);
  const namespaces = new Set(examples('valid').map((e) => (e.object.metadata as { namespace?: string }).namespace ?? 'default'));
  for (const ns of namespaces) await cp.kubectl(['create', 'namespace', ns]);
});

t.teardown(async () => {
  await cp?.stop();
});

t.test('kubectl explain documents every field', async (t) => {
  const r = await cp.kubectl(['explain', 'workloadpolicy.spec', '--recursive']);
  t.equal(r.code, 0, r.stderr);
  for (const field of ['subjects', 'posture', 'timeWindows', 'destinations', 'credential', 'oauth2TokenExchange', 'awsSigV4', 'expiresAt']) {
    t.match(r.stdout, field, `lists ${field}`);
  }
  const host = await cp.kubectl(['explain', 'workloadpolicy.spec.destinations.host']);
  t.match(host.stdout, /wildcard whose leftmost/, 'field descriptions come from the CRD');
  const wp = await cp.kubectl(['explain', 'wp']);
  t.match(wp.stdout, /short-lived credential/, 'the short name wp works');
});

t.test('valid examples are accepted by the API server and by mayfly policy validate', async (t) => {
  for (const ex of examples('valid')) {
    const r = await cp.kubectl(['apply', '-f', ex.path]);
    t.equal(r.code, 0, `${ex.file}: ${r.stderr}`);
    t.equal(validateWorkloadPolicy(ex.object).valid, true, `${ex.file}: offline validator agrees`);
  }
  const get = await cp.kubectl(['get', 'wp', '-A']);
  t.match(get.stdout, /NAMESPACE\s+NAME\s+MODE\s+READY\s+MATCHED\s+AGE/, 'printer columns');
  t.match(get.stdout, /search-to-catalog\s+Audit/, 'mode column');
});

t.test('invalid examples: the API server and mayfly policy validate give the same verdict at the same field', async (t) => {
  const invalid = examples('invalid');
  t.ok(invalid.length >= 15);
  for (const ex of invalid) {
    const server = await cp.kubectl(['apply', '--dry-run=server', '-f', ex.path]);
    const offline = validateWorkloadPolicy(ex.object);
    t.not(server.code, 0, `${ex.file}: API server rejects`);
    t.equal(offline.valid, false, `${ex.file}: mayfly policy validate rejects`);
    const field = ex.expectField as string;
    t.ok(server.stderr.includes(field), `${ex.file}: API server names ${field}: ${server.stderr.trim()}`);
    const offlinePaths = offline.valid ? [] : offline.errors.map((e) => e.path);
    t.ok(offlinePaths.includes(field), `${ex.file}: offline names ${field}: ${offlinePaths.join(', ')}`);
    // Every field the API server complains about, the offline validator reports too.
    const serverFields = [...server.stderr.matchAll(/(?:^|[\s"])(spec(?:\.[A-Za-z0-9]+|\[\d+\])+)(?=[:"\s])/g)].map((m) => m[1]);
    for (const f of serverFields) t.ok(offlinePaths.includes(f as string), `${ex.file}: offline also reports ${f}`);
  }
});

t.test('status is a subresource', async (t) => {
  const ns = 'payments';
  const name = 'payments-to-stripe';
  const status = { observedGeneration: 1, matchedPods: 3, injectedPods: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'Compiled', message: 'ok', lastTransitionTime: '2026-01-01T00:00:00Z' }] };
  const put = await cp.kubectl(['patch', 'wp', name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ status })]);
  t.equal(put.code, 0, put.stderr);
  const read = async () => JSON.parse((await cp.kubectl(['get', 'wp', name, '-n', ns, '-o', 'json'])).stdout) as { spec: { mode: string }; status: typeof status; metadata: { generation: number } };
  t.same((await read()).status.matchedPods, 3, 'written through /status');

  // A write to the main resource cannot change status...
  const spec = await cp.kubectl(['patch', 'wp', name, '-n', ns, '--type=merge', '-p', JSON.stringify({ spec: { mode: 'Audit' }, status: { matchedPods: 99 } })]);
  t.equal(spec.code, 0, spec.stderr);
  const after = await read();
  t.equal(after.spec.mode, 'Audit', 'spec changed');
  t.equal(after.status.matchedPods, 3, 'status unchanged by a spec write');
  t.equal(after.metadata.generation, 2, 'spec change bumps generation');

  // ...and a status write cannot change spec.
  await cp.kubectl(['patch', 'wp', name, '-n', ns, '--subresource=status', '--type=merge', '-p', JSON.stringify({ spec: { mode: 'Enforce' }, status: { matchedPods: 4 } })]);
  const last = await read();
  t.equal(last.spec.mode, 'Audit', 'spec unchanged by a status write');
  t.equal(last.status.matchedPods, 4);
  const ready = await cp.kubectl(['get', 'wp', name, '-n', ns]);
  t.match(ready.stdout, /payments-to-stripe\s+Audit\s+True\s+4/, 'Ready and Matched columns read status');
});
