// mayfly policy validate -f FILE [-f FILE ...] [-o json]
// Validates WorkloadPolicies offline with the CRD's own schema and CEL rules,
// prints every problem with its field path, and exits 0 only if all are valid.
import { parseArgs } from 'node:util';
import { loadPolicies, type LoadedPolicy } from '@mayfly/crds';
import { readInput, type Command } from '../command.ts';

const USAGE = 'usage: mayfly policy validate -f FILE [-f FILE ...] [-o text|json]\n';

export const command: Command = async (argv, io) => {
  const [sub, ...rest] = argv;
  if (sub !== 'validate') {
    io.stderr.write(USAGE);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({ args: rest, options: { filename: { type: 'string', short: 'f', multiple: true }, output: { type: 'string', short: 'o', default: 'text' } } }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const files = values.filename ?? [];
  if (files.length === 0 || !['text', 'json'].includes(values.output ?? 'text')) {
    io.stderr.write(USAGE);
    return 2;
  }
  const results: Array<{ file: string; policies: LoadedPolicy[] }> = [];
  for (const file of files) {
    let text: string;
    try {
      text = await readInput(file, io.cwd);
    } catch (err) {
      io.stderr.write(`${file}: ${(err as Error).message}\n`);
      return 1;
    }
    results.push({ file, policies: loadPolicies(text) });
  }
  const invalid = results.flatMap((r) => r.policies).filter((p) => p.errors.length > 0).length;
  const total = results.reduce((n, r) => n + r.policies.length, 0);
  if (values.output === 'json') {
    io.stdout.write(`${JSON.stringify(results.map((r) => ({ file: r.file, policies: r.policies.map(({ name, errors }) => ({ name, valid: errors.length === 0, errors })) })), null, 2)}\n`);
  } else {
    for (const r of results) {
      for (const p of r.policies) {
        if (p.errors.length === 0) {
          io.stdout.write(`${r.file}: ${p.name}: valid\n`);
          continue;
        }
        io.stdout.write(`${r.file}: ${p.name}: invalid\n`);
        for (const e of p.errors) io.stdout.write(`  ${e.path || '(object)'}: ${e.message}\n`);
      }
    }
    io.stdout.write(`${total - invalid} valid, ${invalid} invalid\n`);
  }
  if (total === 0) {
    io.stderr.write('no policies found\n');
    return 1;
  }
  return invalid === 0 ? 0 : 1;
};
