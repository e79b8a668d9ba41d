// Bundles the `mayfly` CLI into plain JavaScript for the sidecar: one process
// per pod, so its memory is paid once per pod. Run from TypeScript sources,
// Node loads its type stripper (about 17 MiB of resident memory, measured);
// bundled, it does not, and each command loads only its own chunk (`mayfly
// sidecar` never loads the controller, the CRD validator or CEL). The image's
// `mayfly` runs `sidecar` from this bundle and every other command from the
// sources (see the Dockerfile); the e2e kubelet does the same, so the tests run
// what the image ships.
//
// usage: node cli/scripts/bundle.ts [OUTDIR]     (default .build/dist/sidecar)
import { copyFileSync, mkdirSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_BUNDLE_DIR = join(root, '.build', 'dist', 'sidecar');

/**
 * Node's built-in modules, loaded with require() rather than import. Node
 * builds an ES module facade for a built-in by reading every one of its
 * exports, and node:http's WebSocket, CloseEvent and MessageEvent are getters
 * that load Node's own fetch stack (its internal undici, web streams, http2,
 * zlib, worker_threads, perf_hooks): 8 MiB of resident memory in every pod,
 * measured, for modules the sidecar never uses. require() returns the module
 * object as it is and reads nothing. (A dynamic import() of a built-in stays
 * an import: the in-pod code makes none of node:http.)
 */
const builtinsByRequire: Plugin = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
      // static imports only: esbuild gives a dynamic import() of CommonJS a default export alone
      if (args.kind !== 'import-statement' || !isBuiltin(args.path)) return undefined;
      return { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: 'builtin' };
    });
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

/**
 * Bundles `entry` (default: the CLI) with its dependencies into `outdir` as ES
 * modules split per dynamic import; returns the entry file's path. The CRD
 * file goes next to the output's parent, where `crds/src/crd.ts` looks for it
 * from a chunk (`mayfly sidecar --config` loads policies through it).
 */
export async function bundle(outdir = DEFAULT_BUNDLE_DIR, entry = join(root, 'cli', 'src', 'main.ts')): Promise<string> {
  return (await bundleWithMetafile(outdir, entry)).main;
}

/** As `bundle`, with esbuild's account of which sources went into which chunk. */
export async function bundleWithMetafile(outdir = DEFAULT_BUNDLE_DIR, entry = join(root, 'cli', 'src', 'main.ts')): Promise<{ main: string; metafile: Metafile }> {
  const result = await build({
    entryPoints: { main: entry },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node24',
    outdir,
    logLevel: 'warning',
    legalComments: 'none',
    metafile: true,
    absWorkingDir: root,
    plugins: [builtinsByRequire],
    // CommonJS dependencies call require(); give the ES module output one.
    banner: { js: "import { createRequire as __mayflyRequire } from 'node:module'; const require = __mayflyRequire(import.meta.url);" },
  });
  mkdirSync(dirname(outdir), { recursive: true });
  copyFileSync(join(root, 'crds', 'mayfly.dev_workloadpolicies.yaml'), join(dirname(outdir), 'mayfly.dev_workloadpolicies.yaml'));
  return { main: join(outdir, 'main.js'), metafile: result.metafile };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await bundle(process.argv[2] ? resolve(process.argv[2]) : undefined);
  process.stdout.write(`${out}\n`);
}
