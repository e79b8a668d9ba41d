// `make demo`: the whole product, end to end, on a real control plane.
//
//  1. start etcd, kube-apiserver and kube-controller-manager (built on first use)
//  2. helm install the chart; run the controller with the chart's RBAC
//  3. label a namespace, apply a WorkloadPolicy, create a Deployment
//  4. run its pod in a network namespace from the spec the API server stored
//  5. an unmodified curl calls an HTTPS API that requires a credential: it works
//  6. a denied request, an Audit-mode request, a policy change, the audit log
//  7. clean up
import { X509Certificate } from 'node:crypto';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { createWorld, type World } from './world.ts';
import { header, type ReceivedRequest, type Reply } from './upstream.ts';
import { fetchJson, getJson } from './mayfly.ts';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s);
let stepNo = 0;
const step = (title: string) => console.log(`\n${bold(`[${++stepNo}] ${title}`)}`);
const say = (line: string) => console.log(`    ${line}`);
const show = (label: string, text: string) => console.log(`    ${label}\n${text.trimEnd().split('\n').map((l) => `      ${dim(l)}`).join('\n')}`);

const NS = 'payments';
const API = 'api.payments.example';
const AUDIT_API = 'reports.payments.example';

function policy(world: World, methods: string[]): string {
  const ca = world.apiCa.certPem.trimEnd().split('\n').map((l) => `          ${l}`).join('\n');
  return `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: payments-to-api, namespace: ${NS} }
spec:
  mode: Enforce
  subjects: { serviceAccounts: [payments-api] }
  destinations:
    - host: ${API}
      methods: ${JSON.stringify(methods)}
      paths: ["/v1/charges", "/v1/charges/*"]
      # The demo's API listens on a private test address, which policies must allow explicitly.
      allowPrivateAddresses: true
      caBundle: |
${ca}
  credential:
    provider: { broker: { audience: payments-api, ttl: 5m } }
    inject: { header: Authorization, format: "Bearer {{token}}" }
---
apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: payments-to-reports, namespace: ${NS} }
spec:
  mode: Audit
  subjects: { serviceAccounts: [payments-api] }
  destinations:
    - host: ${AUDIT_API}
      methods: [GET]
      allowPrivateAddresses: true
      caBundle: |
${ca}
  credential:
    provider: { broker: { audience: reports, ttl: 5m } }
    inject: { header: Authorization }
`;
}

async function main(): Promise<void> {
  const started = Date.now();
  step('Start a real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)');
  say('first run: builds the binaries from the Go module proxy (15-35 minutes); later runs reuse them');
  const world = await createWorld({ log: (l) => say(dim(l)) });
  let exitCode = 0;
  try {
    const mayflyCa = await world.mayfly.ca();
    const jwksUrl = `https://127.0.0.1:${world.mayfly.controller.serverPort}/.well-known/jwks.json`;
    const jwks = createLocalJWKSet(await fetchJson<JSONWebKeySet>(jwksUrl, mayflyCa));
    // The API trusts only tokens the Mayfly broker signed for its audience.
    const verifyAt = async (r: ReceivedRequest, audience: string): Promise<Reply> => {
      const auth = header(r, 'authorization')[0];
      if (!auth?.startsWith('Bearer ')) return { status: 401, body: JSON.stringify({ error: 'missing credential' }) };
      try {
        const { payload } = await jwtVerify(auth.slice(7), jwks, { audience, algorithms: ['ES256'] });
        return { status: 200, body: JSON.stringify({ ok: true, caller: payload.sub, expires: new Date((payload.exp ?? 0) * 1000).toISOString() }) };
      } catch (err) {
        return { status: 401, body: JSON.stringify({ error: (err as Error).message }) };
      }
    };
    step('An API that requires a credential (it verifies broker JWTs with the published JWKS)');
    const api = await world.api(API, { reply: (r) => verifyAt(r, 'payments-api') });
    const reports = await world.api(AUDIT_API, { reply: (r) => verifyAt(r, 'reports') });
    say(`https://${API} and https://${AUDIT_API} (${api.url}, ${reports.url}), certificate issuer: ${new X509Certificate(world.apiCa.certPem).subject.replace(/\n/g, ', ')}`);

    step(`Opt namespace ${NS} in and apply the WorkloadPolicies`);
    await world.namespace(NS);
    say(`kubectl label namespace ${NS} mayfly.dev/injection=enabled`);
    show('kubectl apply -f policy.yaml', await world.apply(policy(world, ['GET', 'POST'])));
    await new Promise((r) => setTimeout(r, 1500));
    show('kubectl get workloadpolicies -n payments', (await world.cp.kubectl(['get', 'wp', '-n', NS])).stdout);

    step('Create a Deployment; the ReplicaSet controller creates its pod and the webhook injects it');
    const podName = await world.deployment({ namespace: NS, name: 'payments-api', serviceAccount: 'payments-api', labels: { app: 'payments' } });
    const stored = await getJson<{ metadata: { annotations: Record<string, string> }; spec: { initContainers?: Array<{ name: string; restartPolicy?: string }>; containers: Array<{ name: string; env?: Array<{ name: string }> }> } }>(world.cp, ['pod', podName, '-n', NS]);
    say(`pod ${podName}: init containers ${(stored.spec.initContainers ?? []).map((c) => `${c.name}${c.restartPolicy === 'Always' ? ' (native sidecar)' : ''}`).join(', ')}`);
    say(`app container env: ${(stored.spec.containers[0]?.env ?? []).map((e) => e.name).join(', ')}`);
    say(`mayfly.dev/status: ${stored.metadata.annotations['mayfly.dev/status']}`);

    step('Run the pod as a kubelet would: network namespace, projected tokens, capture rules, sidecar');
    const pod = await world.runPod(NS, podName);
    say(`pod network ${pod.network.netns} (${pod.network.podIP}); sidecar ready`);

    step(`An unmodified curl in the app container calls https://${API}/v1/charges`);
    const ok = await pod.app(['curl', '-sS', '--max-time', '10', '-w', '\nHTTP %{http_code}', `https://${API}/v1/charges`]);
    show('curl https://api.payments.example/v1/charges', ok.stdout + ok.stderr);
    const seen = api.received.at(-1);
    say(`the API received Authorization: ${seen ? `${(header(seen, 'authorization')[0] ?? 'none').slice(0, 32)}... (a broker JWT the app never saw)` : 'nothing'}`);
    if (!/HTTP 200/.test(ok.stdout)) throw new Error('the credentialed request did not succeed');
    const leaked = (await pod.app(['sh', '-c', 'env; ls -R /var/run/secrets 2>/dev/null || true'])).stdout;
    say(`the app container holds no credential: ${/Bearer|eyJ/.test(leaked) ? 'FOUND ONE (bug)' : 'no token in its env or files'}`);

    step('A request the policy does not allow (DELETE) is denied by the sidecar; the API sees nothing');
    const before = api.received.length;
    const denied = await pod.app(['curl', '-sS', '--max-time', '10', '-X', 'DELETE', '-w', '\nHTTP %{http_code}', `https://${API}/v1/charges/ch_1`]);
    show('curl -X DELETE https://api.payments.example/v1/charges/ch_1', denied.stdout + denied.stderr);
    say(`requests the API received for it: ${api.received.length - before}`);

    step(`Audit mode: a request the Audit policy would deny is forwarded, without a credential, and logged`);
    const audited = await pod.app(['curl', '-sS', '--max-time', '10', '-X', 'POST', '-w', '\nHTTP %{http_code}', `https://${AUDIT_API}/export`]);
    show(`curl -X POST https://${AUDIT_API}/export`, audited.stdout + audited.stderr);
    say(`the reports API received ${reports.received.length} request(s), Authorization: ${reports.headerValues('authorization').length ? 'present' : 'absent'}`);

    step('Change the policy to allow DELETE; the sidecar enforces it within seconds');
    const applied = Date.now();
    await world.apply(policy(world, ['GET', 'POST', 'DELETE']));
    let after = denied;
    for (let i = 0; i < 40 && !/HTTP 200/.test(after.stdout); i++) {
      await new Promise((r) => setTimeout(r, 250));
      after = await pod.app(['curl', '-sS', '--max-time', '10', '-X', 'DELETE', '-w', '\nHTTP %{http_code}', `https://${API}/v1/charges/ch_1`]);
    }
    show('curl -X DELETE https://api.payments.example/v1/charges/ch_1', after.stdout + after.stderr);
    say(`allowed ${((Date.now() - applied) / 1000).toFixed(1)} s after kubectl apply`);

    step('The audit log: one JSON record per decision (credential by id, never by value)');
    for (const r of pod.audit().slice(-5)) {
      const { time, decision, reason, policy: p, method, host, path, status, credential } = r as Record<string, unknown>;
      say(dim(JSON.stringify({ time, decision, reason, policy: p, method, host, path, status, credential })));
    }
    show('kubectl get workloadpolicies -n payments', (await world.cp.kubectl(['get', 'wp', '-n', NS])).stdout);
  } catch (err) {
    exitCode = 1;
    console.error(`\ndemo failed: ${(err as Error).stack ?? String(err)}`);
    for (const [name, path] of world.logs()) {
      const lines = (await import('node:fs')).readFileSync(path, 'utf8').trimEnd().split('\n').filter((l) => /"level":(40|50)/.test(l)).slice(-8);
      if (lines.length) console.error(`\n${name} warnings and errors (${path}):\n${lines.join('\n')}`);
    }
  } finally {
    step('Clean up: stop the pod, the controller and the control plane');
    await world.stop();
    say(`done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  }
  process.exitCode = exitCode;
}

await main();
