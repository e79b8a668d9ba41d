// The bundled CLI that the image runs `mayfly sidecar` from (cli/scripts/bundle.ts):
// it builds, it runs as plain JavaScript, and the in-pod sidecar's chunks
// carry none of the modules that only the controller or local mode need.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { bundleWithMetafile } from '../scripts/bundle.ts';

const exec = promisify(execFile);
const EXAMPLES = fileURLToPath(new URL('../../crds/examples/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mayfly-bundle-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const { main, metafile } = await bundleWithMetafile(join(dir, 'dist', 'sidecar'));

t.test('the bundle runs as plain JavaScript, without the type stripper', async (t) => {
  const help = await exec(process.execPath, ['--no-experimental-strip-types', main, 'sidecar', '--help']);
  t.match(help.stdout, /usage: mayfly sidecar --config FILE/);
  // local mode's policy loader reads the CRD from next to the bundle
  const valid = await exec(process.execPath, ['--no-experimental-strip-types', main, 'policy', 'validate', '-f', join(EXAMPLES, 'valid', 'etl-to-gcs.yaml')]);
  t.match(valid.stdout, /1 valid, 0 invalid/);
  const invalid = await exec(process.execPath, [main, 'policy', 'validate', '-f', join(EXAMPLES, 'invalid', 'aws-bad-region.yaml')]).catch((e: { code: number; stdout: string }) => e);
  t.equal((invalid as { code: number }).code, 1);
  t.match((invalid as { stdout: string }).stdout, /spec\.credential\.provider\.aws\.region/);
});

t.test('the in-pod sidecar loads no validator, CEL, controller or Kubernetes client', async (t) => {
  const outputs = metafile.outputs;
  const start = Object.keys(outputs).find((o) => outputs[o]!.entryPoint === 'cli/src/sidecar-cluster.ts');
  t.ok(start, 'cli/src/sidecar-cluster.ts is a chunk of its own (imported on demand)');
  // every chunk the in-pod path can reach, through static and dynamic imports
  const reach = new Set<string>();
  const todo = [start as string];
  while (todo.length > 0) {
    const o = todo.pop() as string;
    if (reach.has(o)) continue;
    reach.add(o);
    for (const i of outputs[o]?.imports ?? []) if (!i.external) todo.push(i.path);
  }
  const inputs = [...reach].flatMap((o) => Object.keys(outputs[o]!.inputs));
  t.ok(inputs.some((i) => i.startsWith('sidecar/src/pipeline/')), 'the data plane is in it');
  for (const unwanted of [/@bufbuild\/cel/, /crds\/src\/validate\.ts/, /crds\/src\/load\.ts/, /@kubernetes\/client-node/, /^operator\//, /^webhook\/src\/server/]) {
    t.same(inputs.filter((i) => unwanted.test(i)), [], `nothing matching ${unwanted}`);
  }
});
