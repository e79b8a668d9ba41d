// Golden-file tests of inject(): every case in test/fixtures/inject is found
// automatically. Regenerate with `node webhook/test/regen-golden.ts`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import jsonpatch from 'fast-json-patch';
import { parse } from 'yaml';
import { inject, type Pod } from '@mayfly/webhook';
import { caseNames, FIXTURES, loadCase, OUTPUT_KINDS, render, run } from './golden.ts';
import { podProblems } from './pod-sanity.ts';

const names = caseNames();

t.test('there are at least 30 injected and 15 refused or skipped cases', async (t) => {
  const outcomes = names.map((n) => run(loadCase(n)));
  t.ok(outcomes.filter((o) => 'patch' in o).length >= 30);
  t.ok(outcomes.filter((o) => !('patch' in o)).length >= 15);
});

for (const name of names) {
  t.test(name, async (t) => {
    const c = loadCase(name);
    const text = readFileSync(join(FIXTURES, `${name}.pod.yaml`), 'utf8');
    t.same(parse(text, { version: '1.1' }), c.pod, 'the fixture reads the same as YAML 1.1 (as kubectl reads it)');
    const outcome = run(c);
    const files = render(outcome);
    for (const kind of OUTPUT_KINDS) {
      const path = join(FIXTURES, `${name}.${kind}`);
      if (files[kind] === undefined) {
        t.notOk(existsSync(path), `stale ${kind} (regenerate)`);
        continue;
      }
      t.ok(existsSync(path), `${kind} exists (run node webhook/test/regen-golden.ts)`);
      if (existsSync(path)) t.equal(files[kind], readFileSync(path, 'utf8'), `${kind} matches the golden file`);
    }
    if (!('patch' in outcome)) return;

    const applied = jsonpatch.applyPatch(structuredClone(c.pod), outcome.patch, true, false).newDocument as Pod;
    t.same(applied, parse(readFileSync(join(FIXTURES, `${name}.injected.yaml`), 'utf8')), 'the patch applied to the input gives the injected pod');
    t.same(podProblems(applied), [], 'the injected pod is structurally sane');

    const input = structuredClone(c.pod);
    inject(input, c.context);
    t.same(input, c.pod, 'inject() leaves its input untouched');

    const again = inject(structuredClone(applied), c.context);
    t.ok('patch' in again && again.patch.length === 0, 're-injecting the injected pod gives an empty patch');
  });
}
