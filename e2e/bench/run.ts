// `make bench`: every benchmark script in turn, each in its own process,
// stopping at the first one that fails. The scripts themselves measure and
// print; this file only plans, checks what they need, runs and reports.
//
//   node e2e/bench/run.ts [--only webhook|sidecar|operator] [--quick] [--list]
//
//   --only   run one part: webhook (admission latency), sidecar (data plane
//            against a bare Node proxy and nginx), operator (1,000 policies to
//            Ready, then config propagation; both on the real control plane)
//   --quick  short runs with small sizes, to check that the benchmarks work;
//            the sidecar benchmark then leaves docs/benchmarks.md alone
//   --list   print what would run and exit
//
// Exit status: 0 when every benchmark finished, else the failed one's status
// (1 when it died of a signal), 2 for a usage error, 130 when interrupted.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const PARTS = ['webhook', 'sidecar', 'operator'] as const;
export type Part = (typeof PARTS)[number];

export interface Step {
  part: Part;
  /** What is measured, for progress lines. */
  title: string;
  /** The script, relative to the repository root. */
  script: string;
  args: string[];
  /** Programs that must be on PATH before the script can run, with the reason. */
  requires: Array<{ program: string; why: string }>;
}

export interface BenchOptions {
  only: Part | null;
  quick: boolean;
  list: boolean;
}

export class UsageError extends Error {
  readonly code = 'ERR_BENCH_USAGE';
}

const USAGE = 'usage: node e2e/bench/run.ts [--only webhook|sidecar|operator] [--quick] [--list]';

/** The command line, checked; throws UsageError with one line that says what is wrong. */
export function parseOptions(argv: string[]): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { only: { type: 'string' }, quick: { type: 'boolean', default: false }, list: { type: 'boolean', default: false } } }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`);
  }
  const only = values.only ?? null;
  if (only !== null && !(PARTS as readonly string[]).includes(only)) throw new UsageError(`--only must be one of ${PARTS.join(', ')}, not ${JSON.stringify(only)}\n${USAGE}`);
  return { only: only as Part | null, quick: values.quick, list: values.list };
}

/** Every benchmark in the order `make bench` runs them (cheapest first), narrowed by the options. Pure. */
export function planBenchmarks(o: Pick<BenchOptions, 'only' | 'quick'>): Step[] {
  const steps: Step[] = [
    {
      part: 'webhook',
      title: 'admission webhook latency',
      script: 'webhook/bench/admission.ts',
      args: o.quick ? ['--rate', '100', '--seconds', '3', '--sizes', '4,64'] : [],
      requires: [],
    },
    {
      part: 'sidecar',
      title: 'sidecar data plane against a bare Node proxy and nginx',
      script: 'e2e/bench/sidecar.ts',
      // the full run also measures the three reference relays that docs/benchmarks.md reads the CPU against
      args: o.quick ? ['--seconds', '2', '--runs', '1', '--paired-seconds', '4', '--no-write'] : ['--decompose'],
      requires: [{ program: 'nginx', why: 'the sidecar benchmark measures nginx as a baseline (Debian package nginx-light; `make setup` installs it)' }],
    },
    {
      part: 'operator',
      title: 'policies to Ready on the real control plane',
      script: 'operator/bench/policies.ts',
      args: o.quick ? ['--namespaces', '10', '--per-namespace', '5'] : [],
      requires: [],
    },
    {
      part: 'operator',
      title: 'policy change propagation to sidecars',
      script: 'operator/bench/propagation.ts',
      args: o.quick ? ['--sidecars', '10', '--changes', '20', '--kubectl', '5'] : [],
      requires: [],
    },
  ];
  return o.only === null ? steps : steps.filter((s) => s.part === o.only);
}

/** Whether `program` is an executable file in one of the PATH directories. */
export function onPath(program: string, path = process.env.PATH ?? ''): boolean {
  return path.split(delimiter).some((dir) => {
    if (!dir) return false;
    try {
      accessSync(join(dir, program), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export function commandLine(step: Step): string {
  return ['node', step.script, ...step.args].join(' ');
}

function seconds(ms: number): string {
  return ms < 100_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

function load(): string {
  return loadavg().map((l) => l.toFixed(2)).join(' ');
}

interface Outcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
}

/** Runs one script with this Node (so Node 24 strips the types) from the repository root. */
function runStep(root: string, step: Step, onChild: (child: ChildProcess | null) => void): Promise<Outcome> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [step.script, ...step.args], { cwd: root, stdio: 'inherit' });
    onChild(child);
    child.once('error', (err) => {
      onChild(null);
      process.stderr.write(`[bench] cannot start ${commandLine(step)}: ${err.message}\n`);
      resolve({ code: 1, signal: null, ms: performance.now() - started });
    });
    child.once('exit', (code, signal) => {
      onChild(null);
      resolve({ code, signal, ms: performance.now() - started });
    });
  });
}

export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const steps = planBenchmarks(options);
  if (options.list) {
    for (const [i, s] of steps.entries()) process.stdout.write(`${i + 1}. [${s.part}] ${s.title}: ${commandLine(s)}\n`);
    return 0;
  }

  const missing = steps.flatMap((s) => s.requires.filter((r) => !onPath(r.program)).map((r) => `${r.program} is not on PATH: ${r.why}`));
  if (missing.length > 0) {
    process.stderr.write(`[bench] cannot start:\n  ${missing.join('\n  ')}\n`);
    return 1;
  }

  let current: ChildProcess | null = null;
  let interrupted: NodeJS.Signals | null = null;
  const interrupt = (signal: NodeJS.Signals): void => {
    interrupted = signal;
    // The benchmarks clean up after themselves on SIGTERM/SIGINT (control plane, nginx, children).
    current?.kill(signal);
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  process.stdout.write(`[bench] ${steps.length} benchmark${steps.length === 1 ? '' : 's'}${options.only ? ` (${options.only} only)` : ''}${options.quick ? ', quick runs' : ''}; ${cpus().length} CPUs, load average ${load()}\n`);
  const done: Array<{ step: Step; ms: number }> = [];
  try {
    for (const [i, step] of steps.entries()) {
      process.stdout.write(`\n[bench ${i + 1}/${steps.length}] ${step.title}\n[bench] $ ${commandLine(step)}\n`);
      const r = await runStep(root, step, (c) => (current = c));
      if (interrupted) {
        process.stderr.write(`\n[bench] interrupted (${interrupted}) during ${step.script}; nothing after it ran\n`);
        return 130;
      }
      if (r.code !== 0) {
        const how = r.signal ? `was killed by ${r.signal}` : `exited with status ${r.code}`;
        const skipped = steps.slice(i + 1).map((s) => s.script);
        process.stderr.write(`\n[bench] FAILED: ${step.title} (${commandLine(step)}) ${how} after ${seconds(r.ms)}; its output is above.\n`);
        if (skipped.length > 0) process.stderr.write(`[bench] not run: ${skipped.join(', ')}\n`);
        process.stderr.write(`[bench] to repeat only this part: node e2e/bench/run.ts --only ${step.part}${options.quick ? ' --quick' : ''}\n`);
        return r.code ?? 1;
      }
      done.push({ step, ms: r.ms });
      process.stdout.write(`[bench ${i + 1}/${steps.length}] done in ${seconds(r.ms)} (load average ${load()})\n`);
    }
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  process.stdout.write(`\n[bench] all ${done.length} finished:\n`);
  for (const d of done) process.stdout.write(`  ${seconds(d.ms).padStart(12)}  ${d.step.title} (${d.step.script})\n`);
  if (!options.quick && done.some((d) => d.step.part === 'sidecar')) process.stdout.write('[bench] the sidecar section of docs/benchmarks.md was rewritten with this run; the other sections are updated by hand from the output above\n');
  return 0;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) process.exitCode = await main(process.argv.slice(2));
