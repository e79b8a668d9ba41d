#!/usr/bin/env node
// mayfly: one binary for every Mayfly command. This file only dispatches.
import type { Command } from './command.ts';

const COMMANDS: Record<string, { summary: string; load: () => Promise<{ command: Command }> }> = {
  sidecar: { summary: 'sidecar --config FILE: run the data plane from a local file, without a cluster', load: () => import('./commands/sidecar.ts') },
  init: { summary: 'init: write the transparent-mode capture rules (iptables, ip6tables)', load: () => import('./commands/init.ts') },
  controller: { summary: 'controller: the operator, webhook, broker and config stream (in the cluster)', load: () => import('./commands/controller.ts') },
  policy: { summary: 'policy validate -f FILE: check policies offline with the CRD rules', load: () => import('./commands/policy.ts') },
  inject: { summary: 'inject -f FILE: print pods and workloads with the Mayfly sidecar injected', load: () => import('./commands/inject.ts') },
};

function usage(): string {
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(11)} ${c.summary}`);
  return `usage: mayfly <command> [flags]\n\ncommands:\n${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const entry = COMMANDS[name];
  if (!entry) {
    process.stderr.write(`mayfly: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return 2;
  }
  const { command } = await entry.load();
  return command(rest, { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`mayfly: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
