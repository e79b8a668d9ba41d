// The pure parts the request path leans on: the one-walk strip pass, response
// headers from the raw parser output, the host policy cache, the audit line
// (whitelisted, in pino's exact format) and upstream failure answers.
import t from 'tap';
import pino from 'pino';
import { Writable } from 'node:stream';
import { compilePolicy, type WorkloadPolicy } from '@mayfly/crds';
import { appendRequestHeaders, appendResponseHeaders, traceContext } from '../../src/http/headers.ts';
import { HostPolicies } from '../../src/pipeline/host-policies.ts';
import { lowerName } from '../../src/http/names.ts';
import { upstreamFailure } from '../../src/pipeline/relay.ts';
import { audit, createLogger, isoAt, isoTime, logDestination, REDACT_PATHS, type AuditRecord } from '../../src/audit.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import type { PodIdentity } from '../../src/contracts.ts';

t.test('strip pass: one walk, app order kept, stripped names once each', async (t) => {
  const raw = ['Host', 'a', 'Accept', '*/*', 'Authorization', 'Bearer 1', 'authorization', 'Bearer 2', 'Expect', '100-continue', 'Connection', 'x-drop', 'X-Drop', '1', 'Keep-Alive', 't=1', 'X-Keep', 'k', 'X-Api-Key', 'z'];
  const out = ['Host', 'upstream'];
  const stripped: string[] = [];
  appendRequestHeaders(raw, { strip: true, injectedHeader: 'authorization' }, out, stripped);
  t.same(out, ['Host', 'upstream', 'Accept', '*/*', 'X-Keep', 'k'], 'Expect never crosses (the sidecar answered 100-continue); Connection-listed and hop-by-hop neither');
  t.same(stripped, ['authorization', 'x-api-key']);
  const passthrough: string[] = [];
  appendRequestHeaders(raw, { strip: false, injectedHeader: null }, passthrough, null);
  t.same(passthrough, ['Accept', '*/*', 'Authorization', 'Bearer 1', 'authorization', 'Bearer 2', 'X-Keep', 'k', 'X-Api-Key', 'z'], 'no strip without a credential');
});

t.test('response headers as the parser gives them: hop-by-hop and Connection-listed ones dropped', async (t) => {
  const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Internal', 'X-Internal', 'secret', 'Transfer-Encoding', 'chunked', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Caf\u00e9', 'v'];
  const out: string[] = [];
  appendResponseHeaders(raw, out);
  t.same(out, ['Content-Type', 'text/plain', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'X-Caf\u00e9', 'v'], 'duplicates kept in order, latin1 text as it came');
  const early: string[] = ['Prefix', 'kept'];
  appendResponseHeaders(['X-Before', '1', 'ETag', '"e"', 'connection', 'X-BEFORE'], early);
  t.same(early, ['Prefix', 'kept', 'ETag', '"e"'], 'a listed header before Connection is dropped too; what was in the list before stays');
});

t.test('lowercase header names are remembered, not recomputed', async (t) => {
  t.equal(lowerName('Content-Type'), 'content-type');
  t.equal(lowerName('content-type'), 'content-type');
  t.equal(lowerName('X-\u00c9'), 'x-\u00e9');
});

t.test('trace context: the first traceparent and tracestate', async (t) => {
  const into: { traceparent?: string; tracestate?: string } = {};
  traceContext(['Host', 'a', 'TraceParent', '00-1-2-01', 'tracestate', 'x=1', 'traceparent', '00-3-4-01'], into);
  t.same(into, { traceparent: '00-1-2-01', tracestate: 'x=1' });
});

const identity: PodIdentity = { namespace: 'payments', name: 'p-0', uid: 'u', serviceAccount: 'payments-api', labels: { app: 'payments' }, images: [] };
const policy = (name: string, hosts: string[], serviceAccounts = ['payments-api']) =>
  compilePolicy({
    apiVersion: 'mayfly.dev/v1alpha1',
    kind: 'WorkloadPolicy',
    metadata: { name, namespace: 'payments' },
    spec: { subjects: { serviceAccounts }, destinations: hosts.map((host) => ({ host })), credential: { provider: { broker: { audience: 'x' } }, inject: { header: 'Authorization' } } },
  } as WorkloadPolicy);

t.test('host policy cache: per snapshot and identity, bounded', async (t) => {
  const a = policy('a', ['api.example.com', '*.example.net']);
  const other = policy('other', ['api.example.com'], ['someone-else']);
  const snap1 = { revision: '1', policies: [a, other] };
  const cache = new HostPolicies(2);
  t.same(cache.get(snap1, identity, 'api.example.com').map((p) => p.id), ['payments/a'], 'only policies selecting the pod');
  t.same(cache.get(snap1, identity, 'x.example.net').map((p) => p.id), ['payments/a'], 'wildcards');
  t.same(cache.get(snap1, identity, 'a.b.example.net'), [], 'one label only');
  t.equal(cache.get(snap1, identity, 'api.example.com'), cache.get(snap1, identity, 'api.example.com'), 'remembered');
  const snap2 = { revision: '2', policies: [other] };
  t.same(cache.get(snap2, identity, 'api.example.com'), [], 'a new snapshot starts afresh');
  t.same(cache.get(snap2, { ...identity, serviceAccount: 'someone-else' }, 'api.example.com').map((p) => p.id), ['payments/other'], 'so does another identity');
});

function capture(): { stream: Writable; lines: () => Array<Record<string, unknown>>; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _e, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, lines: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>), text: () => text };
}

t.test('audit line: pino format, whitelisted fields, level honoured', async (t) => {
  const record: AuditRecord = {
    pod: { namespace: 'payments', name: 'p-0', serviceAccount: 'payments-api' },
    destination: { host: 'api.example.com', port: 443, tls: true },
    decision: 'allow',
    reason: 'allowed',
    method: 'GET',
    path: '/v1/charges',
    policy: 'payments/a',
    mode: 'Enforce',
    credential: { id: 'cred-1', expiresAt: '2030-01-01T00:00:00.000Z' },
    status: 200,
    durationMs: 1.5,
    traceparent: '00-1-2-01',
  };
  // what a careless caller could smuggle in at run time
  const sneaky = { ...record, credential: { ...record.credential, value: 'SECRET-VALUE' }, headers: { authorization: 'Bearer SECRET-VALUE' } } as unknown as AuditRecord;

  const fast = capture();
  audit(createLogger('info', fast.stream as unknown as pino.DestinationStream), sneaky);
  const reference = capture();
  createLogger('info', reference.stream as unknown as pino.DestinationStream).info({ audit: true, ...record }, 'decision');
  const [line] = fast.lines();
  const [expected] = reference.lines();
  t.same(Object.keys(line ?? {}), Object.keys(expected ?? {}), 'the same fields in the same order as pino writes them');
  t.same({ ...line, time: 0 }, { ...expected, time: 0 });
  t.notOk(fast.text().includes('SECRET-VALUE'), 'fields outside the record type never reach the line');

  const child = capture();
  audit(pino({ level: 'info', redact: { paths: REDACT_PATHS } }, child.stream).child({ component: 'x' }), { ...record, wouldDeny: true });
  t.match(child.lines()[0], { component: 'x', audit: true, wouldDeny: true, msg: 'would deny' }, 'child bindings and the would-deny message');

  const quiet = capture();
  audit(createLogger('warn', quiet.stream as unknown as pino.DestinationStream), record);
  t.equal(quiet.text(), '', 'nothing below the logger level');
});

t.test('log time: the ISO text of Date, by arithmetic within the minute', async (t) => {
  const check = (ms: number): boolean => isoAt(ms) === new Date(ms).toISOString();
  // boundaries: epoch, minute, hour, day, month, leap day, year, and the last ISO year with four digits
  const edges = [0, 1, 999, 1000, 59_999, 60_000, Date.UTC(2024, 1, 29, 23, 59, 59, 999), Date.UTC(2024, 2, 1), Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), Date.UTC(9999, 11, 31, 23, 59, 59, 999)];
  for (const ms of edges) t.equal(isoAt(ms), new Date(ms).toISOString(), `at ${ms}`);
  // every millisecond of two whole minutes, and random times in between
  let wrong = 0;
  const from = Date.UTC(2026, 10, 23, 11, 59);
  for (let ms = from; ms < from + 120_000; ms++) if (!check(ms)) wrong++;
  for (let i = 0; i < 100_000; i++) if (!check(Math.floor(Math.random() * Date.UTC(9999, 11, 31)))) wrong++;
  t.equal(wrong, 0, 'the same text for 220,000 times');
});

t.test("log time: pino's ISO time", async (t) => {
  const a = isoTime();
  t.match(a, /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/, "pino's isoTime format");
  const parsed = Date.parse(JSON.parse(`{${a.slice(1)}}`).time as string);
  t.ok(Math.abs(parsed - Date.now()) < 1000, 'the current time');
  const seen = new Set<string>();
  const deadline = Date.now() + 2000;
  while (seen.size < 3 && Date.now() < deadline) seen.add(isoTime());
  t.equal(seen.size, 3, 'changes with the millisecond');
  // the same text as pino's own, taken within one millisecond
  let compared = 0;
  for (let i = 0; i < 1000 && compared < 10; i++) {
    const before = Date.now();
    const ours = isoTime();
    const theirs = pino.stdTimeFunctions.isoTime();
    if (Date.now() !== before) continue;
    compared++;
    if (ours !== theirs) t.fail(`${ours} differs from pino's ${theirs}`);
  }
  t.equal(compared, 10, "the same text as pino's isoTime, ten times");
});

t.test('upstream failures before the response head', async (t) => {
  const e = (code: string) => Object.assign(new Error(code), { code });
  t.match(upstreamFailure(e('DEPTH_ZERO_SELF_SIGNED_CERT'), 'p/a'), { status: 502, code: 'upstream-tls', policy: 'p/a' });
  t.match(upstreamFailure(e('ERR_TLS_CERT_ALTNAME_INVALID'), undefined), { status: 502, code: 'upstream-tls' });
  t.match(upstreamFailure(e('ECONNREFUSED'), undefined), { status: 502, code: 'upstream-unreachable', message: /ECONNREFUSED/ });
  t.match(upstreamFailure(e('ERR_UPSTREAM_HEADERS_TIMEOUT'), undefined), { status: 502, code: 'upstream-unreachable', message: /timed out/ });
  t.match(upstreamFailure(e('ERR_UPSTREAM_CONNECT_TIMEOUT'), undefined), { status: 502, code: 'upstream-unreachable', message: /timed out/ });
  t.match(upstreamFailure(e('HPE_INVALID_CONSTANT'), undefined), { status: 502, code: 'upstream-invalid', message: /invalid response \(HPE_INVALID_CONSTANT\)/ });
  t.notOk('policy' in upstreamFailure(e('ECONNRESET'), undefined));
});

t.test('log destination: audit lines batched and flushed within 50 ms, other lines at once and in order, all at exit', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'mayfly-log-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'batched.log');
  const log = createLogger('info', logDestination(file));
  const rec = (path: string): AuditRecord => ({ pod: { namespace: 'n', name: 'p', serviceAccount: 's' }, destination: { host: 'h', port: 443, tls: true }, decision: 'allow', reason: 'allowed', path });
  const lines = async () => (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as { msg: string; path?: string });
  log.info('config applied');
  t.same((await lines()).map((l) => l.msg), ['config applied'], 'an ordinary line is written at once');
  audit(log, rec('/a'));
  audit(log, rec('/b'));
  t.equal((await lines()).length, 1, 'audit lines are gathered, not written one by one');
  await new Promise((r) => setTimeout(r, 120));
  t.same((await lines()).map((l) => l.path ?? l.msg), ['config applied', '/a', '/b'], 'and written within 50 ms');
  audit(log, rec('/c'));
  log.warn('draining');
  t.same((await lines()).map((l) => l.path ?? l.msg), ['config applied', '/a', '/b', '/c', 'draining'], 'an ordinary line brings the pending audit lines out first, in order');

  const auditUrl = new URL('../../src/audit.ts', import.meta.url).href;
  for (const end of ['process.exit(0)', "throw new Error('boom')", '']) {
    const out = join(dir, `exit-${end.length}.log`);
    const script = `const { createLogger, logDestination, audit } = await import(${JSON.stringify(auditUrl)}); const log = createLogger('info', logDestination(${JSON.stringify(out)})); for (let i = 0; i < 5; i++) audit(log, { pod: { namespace: 'n', name: 'p', serviceAccount: 's' }, destination: { host: 'h', port: 443, tls: true }, decision: 'allow', reason: 'allowed', path: '/' + i }); ${end}`;
    await new Promise<void>((resolve) => execFile(process.execPath, ['--input-type=module', '-e', script], () => resolve()));
    t.equal((await readFile(out, 'utf8')).split('\n').filter(Boolean).length, 5, `every audit line written when the process ends with ${end || 'an empty event loop'}`);
  }
});
