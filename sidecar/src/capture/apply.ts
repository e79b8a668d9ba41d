// Applies a RulePlan with the real iptables tools: the chains through
// `iptables-restore --noflush` (which flushes and rebuilds only Mayfly's chains),
// then each jump from OUTPUT unless `-C` finds it already there.
import { spawn } from 'node:child_process';
import type { RulePlan } from './rules.ts';

export class CaptureApplyError extends Error {
  readonly code = 'ERR_CAPTURE_APPLY';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CaptureApplyError';
  }
}

interface RunResult {
  code: number;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => reject(new CaptureApplyError(`cannot run ${cmd}: ${err.message}`, { cause: err })));
    child.on('close', (code) => resolve({ code: code ?? 1, stderr }));
    if (input !== undefined && child.stdin) {
      child.stdin.on('error', () => {}); // the tool may exit before reading everything; its exit code says what happened
      child.stdin.end(input);
    }
  });
}

/** Applies the plan; returns the jumps that were added (empty when they were already there). */
export async function applyRules(plan: RulePlan): Promise<string[]> {
  const tool = plan.family === 4 ? 'iptables' : 'ip6tables';
  const restored = await run(`${tool}-restore`, ['--noflush'], plan.restore);
  if (restored.code !== 0) throw new CaptureApplyError(`${tool}-restore failed: ${restored.stderr.trim()}`);
  const added: string[] = [];
  for (const jump of plan.jumps) {
    const check = await run(tool, ['-w', '-t', jump.table, '-C', jump.chain, ...jump.rule]);
    if (check.code === 0) continue;
    const insert = await run(tool, ['-w', '-t', jump.table, '-I', jump.chain, '1', ...jump.rule]);
    if (insert.code !== 0) throw new CaptureApplyError(`${tool} -I ${jump.chain} failed: ${insert.stderr.trim()}`);
    added.push(`-t ${jump.table} -I ${jump.chain} 1 ${jump.rule.join(' ')}`);
  }
  return added;
}
