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

t.test('the in-pod sidecar loads no validator, CEL, YAML, controller, Kubernetes client, ASN.1 library or undici, and the AWS SDK only on demand', async (t) => {
  const outputs = metafile.outputs;
  const start = Object.keys(outputs).find((o) => outputs[o]!.entryPoint === 'cli/src/sidecar-cluster.ts');
  t.ok(start, 'cli/src/sidecar-cluster.ts is a chunk of its own (imported on demand)');
  /** The sources in the chunks reachable from `from`, following static imports and, when asked, dynamic ones. */
  const reach = (from: string[], dynamic: boolean): string[] => {
    const seen = new Set<string>();
    const todo = [...from];
    while (todo.length > 0) {
      const o = todo.pop() as string;
      if (seen.has(o)) continue;
      seen.add(o);
      for (const i of outputs[o]?.imports ?? []) if (!i.external && (dynamic || i.kind !== 'dynamic-import')) todo.push(i.path);
    }
    return [...seen].flatMap((o) => Object.keys(outputs[o]!.inputs));
  };
  // sidecar-cluster.ts imports its parts dynamically and all of them at start;
  // what those parts import dynamically is loaded on first use
  const atStart = reach([start as string, ...(outputs[start as string]?.imports ?? []).filter((i) => !i.external).map((i) => i.path)], false);
  const everything = reach([start as string], true);
  t.ok(atStart.some((i) => i.startsWith('sidecar/src/pipeline/')), 'the data plane is loaded at start');
  for (const unwanted of [/@bufbuild\/cel/, /crds\/src\/validate\.ts/, /crds\/src\/load\.ts/, /node_modules\/yaml\//, /node_modules\/ajv\//, /@kubernetes\/client-node/, /^operator\//, /^webhook\/src\/server/, /@peculiar\//, /reflect-metadata/, /tsyringe/, /asn1js/, /\/undici\//]) {
    t.same(everything.filter((i) => unwanted.test(i)), [], `nothing matching ${unwanted}`);
  }
  // built-ins come in by require(): an ES module import of node:http alone loads Node's own fetch stack (cli/scripts/bundle.ts)
  const esmBuiltins = Object.values(outputs).flatMap((o) => o.imports.filter((i) => i.external && i.kind === 'import-statement' && /^node:(http|https|http2|net|tls|stream)$/.test(i.path)).map((i) => i.path));
  t.same(esmBuiltins, [], 'no chunk imports node:http, https, net, tls or stream as an ES module');
  for (const lazy of [/@aws-sdk\/client-sts/, /@smithy\/signature-v4/]) {
    t.same(atStart.filter((i) => lazy.test(i)), [], `${lazy} is not loaded at start`);
    t.ok(everything.some((i) => lazy.test(i)), `${lazy} is in the bundle, for the first aws policy`);
  }
});
