import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

t.test('types.gen.ts is generated from the current CRD', async (t) => {
  const script = fileURLToPath(new URL('../scripts/gen-types.ts', import.meta.url));
  t.doesNotThrow(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' }), 'run node crds/scripts/gen-types.ts to regenerate');
});

t.test('docs/reference/workloadpolicy.md is generated from the current CRD', async (t) => {
  const script = fileURLToPath(new URL('../scripts/gen-reference.ts', import.meta.url));
  t.doesNotThrow(() => execFileSync(process.execPath, [script, '--check'], { stdio: 'pipe' }), 'run node crds/scripts/gen-reference.ts to regenerate');
});
