// FileConfigSource against real files on disk: reloads, refusals, and a write
// caught half way (the file truncated, not yet written), which must never be
// taken for a file of no policies.
import t from 'tap';
import { mkdtemp, open, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileConfigSource, type ConfigFileError } from '../../src/config/file-source.ts';
import type { PolicySnapshot } from '../../src/contracts.ts';

const policy = (name: string): string => `apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: ${name}, namespace: payments }
spec:
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: ${name}.example.com, ports: [443] }]
  credential: { provider: { broker: { audience: x } }, inject: { header: Authorization, format: "Bearer {{token}}" } }
`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const names = (s: PolicySnapshot) => s.policies.map((p) => p.name);

async function watch(t: { teardown(fn: () => Promise<void>): void }, text: string, settleMs: number) {
  const dir = await mkdtemp(join(tmpdir(), 'mayfly-file-source-'));
  const path = join(dir, 'policies.yaml');
  await writeFile(path, text);
  const seen: PolicySnapshot[] = [];
  const errors: ConfigFileError[] = [];
  const source = new FileConfigSource(path, { pollMs: 20, settleMs, onError: (e) => errors.push(e) });
  await source.start((s) => seen.push(s));
  t.teardown(async () => {
    await source.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { path, dir, seen, errors };
}

t.test('a change is read once the file has settled', async (t) => {
  const w = await watch(t, policy('a'), 400);
  t.same(w.seen.map(names), [['a']], 'the first read at start');
  await writeFile(w.path, policy('a') + '---\n' + policy('b'));
  await sleep(60);
  t.equal(w.seen.length, 1, 'not yet: the file has not stayed unchanged for settleMs');
  await sleep(1000);
  t.same(w.seen.map(names), [['a'], ['a', 'b']]);
  t.same(w.errors, []);
});

t.test('a file truncated and then written is never taken for a file of no policies', async (t) => {
  const w = await watch(t, policy('a'), 400);
  // what writeFile does, with the gap between its two steps made long enough
  // for several polls to see the empty file
  const fh = await open(w.path, 'r+');
  await fh.truncate(0);
  await sleep(80);
  await fh.write(policy('b'), 0);
  await fh.close();
  await sleep(1000);
  t.same(w.seen.map(names), [['a'], ['b']], 'the empty file in between was not applied');
  t.same(w.errors, []);
});

t.test('a file that stays empty is applied: no policies', async (t) => {
  const w = await watch(t, policy('a'), 50);
  await writeFile(w.path, '');
  await sleep(400);
  t.same(w.seen.map(names), [['a'], []]);
});

t.test('an invalid file is refused whole; the last good policies stay; the next good file is taken', async (t) => {
  const w = await watch(t, policy('a'), 50);
  await writeFile(w.path, 'kind: WorkloadPolicy\nspec: broken\n');
  await sleep(400);
  t.same(w.seen.map(names), [['a']], 'nothing new delivered');
  t.equal(w.errors.length, 1);
  t.match(w.errors[0]!.message, /invalid policies or documents/);
  t.equal(w.errors[0]!.code, 'ERR_CONFIG_FILE');
  await writeFile(w.path, policy('c'));
  await sleep(400);
  t.same(w.seen.map(names), [['a'], ['c']]);
});

t.test('a file replaced by rename (as a ConfigMap volume updates) is read', async (t) => {
  const w = await watch(t, policy('a'), 50);
  const next = join(w.dir, 'next.yaml');
  await writeFile(next, policy('d'));
  await rename(next, w.path);
  await sleep(400);
  t.same(w.seen.map(names), [['a'], ['d']]);
});

t.test('the same content written again delivers nothing new', async (t) => {
  const w = await watch(t, policy('a'), 50);
  await sleep(30);
  await writeFile(w.path, policy('a'));
  await sleep(400);
  t.equal(w.seen.length, 1);
});

t.test('a file that goes away is reported, and the last good policies stay', async (t) => {
  const w = await watch(t, policy('a'), 50);
  await rm(w.path);
  await sleep(400);
  t.equal(w.seen.length, 1);
  t.equal(w.errors.length, 1);
  t.match(w.errors[0]!.message, /cannot read .*policies\.yaml/);
});

t.test('start refuses a file that is not there or not valid', async (t) => {
  await t.rejects(new FileConfigSource('/nonexistent/mayfly/policies.yaml').start(() => {}), { code: 'ENOENT' });
  const dir = await mkdtemp(join(tmpdir(), 'mayfly-file-source-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'p.yaml'), 'kind: WorkloadPolicy\nspec: broken\n');
  await t.rejects(new FileConfigSource(join(dir, 'p.yaml')).start(() => {}), { code: 'ERR_CONFIG_FILE' });
});
