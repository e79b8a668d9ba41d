// Regenerates every golden file: node webhook/test/regen-golden.ts
// Review the diff like code before committing it.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { caseNames, FIXTURES, loadCase, OUTPUT_KINDS, render, run } from './golden.ts';

let written = 0;
for (const name of caseNames()) {
  const files = render(run(loadCase(name)));
  for (const kind of OUTPUT_KINDS) {
    const path = join(FIXTURES, `${name}.${kind}`);
    if (files[kind] === undefined) rmSync(path, { force: true });
    else writeFileSync(path, files[kind]);
  }
  written++;
}
process.stdout.write(`regenerated ${written} golden cases in ${FIXTURES}\n`);
