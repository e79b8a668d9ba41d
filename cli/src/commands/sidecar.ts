// mayfly sidecar --config FILE: runs the data plane from a local file, without
// a cluster: identity, listeners, policies (WorkloadPolicy YAML, inline or in
// policyFile, hot reloaded) and static credentials per policy. SIGTERM drains.
// mayfly sidecar wait-ready [--port N] [--timeout S]: exits 0 once /readyz is 200.
import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import http from 'node:http';
import type { Command, CommandIO } from '../command.ts';
// The local-file mode's modules (the policy loader brings the CRD validator,
// CEL and YAML) are imported only in that mode: a sidecar in a pod never loads
// them, which keeps its memory down.

const USAGE = `usage: mayfly sidecar --config FILE
       mayfly sidecar wait-ready [--port 15021] [--timeout 120]
`;

function probe(port: number): Promise<boolean> {
  return new Promise((done) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/readyz', timeout: 1000 }, (res) => {
      res.resume();
      done(res.statusCode === 200);
    });
    req.on('error', () => done(false));
    req.on('timeout', () => req.destroy());
  });
}

async function waitReady(argv: string[], io: CommandIO): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { port: { type: 'string', default: '15021' }, timeout: { type: 'string', default: '120' } } });
  const deadline = Date.now() + Number(values.timeout) * 1000;
  while (Date.now() < deadline) {
    if (await probe(Number(values.port))) return 0;
    await new Promise((r) => setTimeout(r, 200));
  }
  io.stderr.write('mayfly sidecar: not ready in time\n');
  return 1;
}

export const command: Command = async (argv, io) => {
  if (argv[0] === 'wait-ready') return waitReady(argv.slice(1), io);
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  if (!values.config) {
    if (!io.env.POD_NAME) {
      io.stderr.write(`mayfly sidecar: --config FILE is required outside a pod (in a pod the webhook sets POD_NAME and the rest)\n${USAGE}`);
      return 2;
    }
    const { clusterSettings, startClusterSidecar, ClusterEnvError } = await import('../sidecar-cluster.ts');
    let settings;
    try {
      settings = clusterSettings(io.env);
    } catch (err) {
      io.stderr.write(`mayfly sidecar: ${err instanceof ClusterEnvError ? err.message : (err as Error).message}\n`);
      return 1;
    }
    return startClusterSidecar(settings, {
      onStop: (fn) => {
        process.once('SIGTERM', fn);
        process.once('SIGINT', fn);
      },
    });
  }
  const [{ parseSidecarConfig, SidecarConfigError }, { FileConfigSource }, { StaticCredentialSource }, { buildSidecar }, { createLogger }] = await Promise.all([
    import('@mayfly/sidecar/config/sidecar-config'),
    import('@mayfly/sidecar/config/file-source'),
    import('@mayfly/sidecar/local/static-credentials'),
    import('@mayfly/sidecar/sidecar'),
    import('@mayfly/sidecar/audit'),
  ]);
  const path = resolve(io.cwd, values.config);
  let local;
  try {
    local = parseSidecarConfig(await readFile(path, 'utf8'), (f) => readFileSync(resolve(dirname(path), f), 'utf8'));
  } catch (err) {
    io.stderr.write(`mayfly sidecar: ${err instanceof SidecarConfigError ? err.message : `cannot read ${path}: ${(err as Error).message}`}\n`);
    return 1;
  }
  const log = createLogger(local.config.logLevel);
  const policyPath = local.policyFile ? resolve(dirname(path), local.policyFile) : path;
  const source = new FileConfigSource(policyPath, { onError: (err) => log.error({ errors: err.errors, path: policyPath }, 'config reload refused; keeping the previous policies') });
  const sidecar = buildSidecar(local.config, { config: source, credentials: new StaticCredentialSource(local.credentials), logger: log });
  try {
    await sidecar.start();
  } catch (err) {
    const e = err as Error & { errors?: string[] };
    io.stderr.write(`mayfly sidecar: cannot start: ${e.message}${e.errors ? `\n  ${e.errors.join('\n  ')}` : ''}\n`);
    await sidecar.stop().catch(() => {});
    return 1;
  }
  return new Promise<number>((done) => {
    const shutdown = (signal: string): void => {
      log.info({ signal }, 'draining');
      sidecar.stop().then(
        () => done(0),
        () => done(1),
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
  });
};
