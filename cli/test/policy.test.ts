// `mayfly policy validate`, run as a real process the way users run it.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { examples } from '../../crds/test/examples.ts';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const mayfly = (args: string[], input?: string) => spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', input });

const valid = examples('valid');
const invalid = examples('invalid');

t.test('all valid: exit 0 and one line per policy', async (t) => {
  const r = mayfly(['policy', 'validate', ...valid.flatMap((e) => ['-f', e.path])]);
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(r.stdout, `${valid.length} valid, 0 invalid`);
});

t.test('one invalid among valid: exit 1, every problem with its field path', async (t) => {
  const bad = invalid.find((e) => e.file === 'two-providers.yaml');
  const r = mayfly(['policy', 'validate', '-f', valid[0]?.path as string, '-f', bad?.path as string]);
  t.equal(r.status, 1);
  t.match(r.stdout, /default\/two-providers: invalid\n  spec\.credential\.provider: set exactly one provider/);
  t.match(r.stdout, '1 valid, 1 invalid');
});

t.test('multi-document YAML from standard input, JSON output', async (t) => {
  const text = [valid[0]?.text, invalid.find((e) => e.file === 'wildcard-not-leftmost.yaml')?.text].join('\n---\n');
  const r = mayfly(['policy', 'validate', '-f', '-', '-o', 'json'], text);
  t.equal(r.status, 1);
  const out = JSON.parse(r.stdout) as Array<{ policies: Array<{ valid: boolean; errors: Array<{ path: string }> }> }>;
  t.equal(out[0]?.policies.length, 2);
  t.equal(out[0]?.policies[0]?.valid, true);
  t.equal(out[0]?.policies[1]?.errors[0]?.path, 'spec.destinations[0].host');
});

t.test('a JSON List of policies', async (t) => {
  const list = { apiVersion: 'v1', kind: 'List', items: valid.slice(0, 2).map((e) => e.object) };
  const r = mayfly(['policy', 'validate', '-f', '-'], JSON.stringify(list));
  t.equal(r.status, 0, r.stdout);
  t.match(r.stdout, '2 valid, 0 invalid');
});

t.test('usage errors exit 2; a missing file or no policies exits 1', async (t) => {
  t.equal(mayfly(['policy', 'validate']).status, 2);
  t.equal(mayfly(['policy', 'frobnicate']).status, 2);
  t.equal(mayfly(['nope']).status, 2);
  const missing = mayfly(['policy', 'validate', '-f', '/nonexistent.yaml']);
  t.equal(missing.status, 1);
  t.match(missing.stderr, /nonexistent\.yaml/);
  t.equal(mayfly(['policy', 'validate', '-f', '-'], '').status, 1);
});
