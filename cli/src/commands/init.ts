// mayfly init: writes the transparent-mode capture rules (iptables and
// ip6tables) and prints them. Idempotent: Mayfly's chains are flushed and
// rebuilt, and the jumps into them are added only when missing.
import { parseArgs } from 'node:util';
import { isIP } from 'node:net';
import type { Command } from '../command.ts';
import { buildRules, checkCaptureSpec, DEFAULT_CAPTURE_PORTS, DEFAULT_OUTBOUND_PORT, DEFAULT_SIDECAR_UID, listenerPorts, type CaptureSpec, type Family } from '@mayfly/sidecar/capture/rules';
import { applyRules } from '@mayfly/sidecar/capture/apply';

const USAGE = `usage: mayfly init [--capture-ports=80,443] [--outbound-port=${DEFAULT_OUTBOUND_PORT}] [--exclude-uid=${DEFAULT_SIDECAR_UID}]
                  [--exclude-cidrs=CIDR,...] [--exclude-ports=PORT,...] [--allow-quic] [--ipv6=auto|on|off] [--dry-run]

Redirects outbound TCP on the captured ports to the sidecar's listeners (the lowest
captured port to --outbound-port, the next to --outbound-port+1, ...), except traffic
of the sidecar's UID, loopback and the excluded CIDRs and ports; drops outbound UDP 443
(QUIC) so clients fall back to TCP. The Kubernetes API service IP (KUBERNETES_SERVICE_HOST)
is always excluded.
`;

function numbers(text: string | undefined, what: string): number[] {
  if (text === undefined || text === '') return [];
  return text.split(',').map((t) => {
    if (!/^\d+$/.test(t.trim())) throw new Error(`${what}: ${JSON.stringify(t)} is not a number`);
    return Number(t.trim());
  });
}

export const command: Command = async (argv, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'capture-ports': { type: 'string' },
        'outbound-port': { type: 'string' },
        'exclude-uid': { type: 'string' },
        'exclude-cidrs': { type: 'string' },
        'exclude-ports': { type: 'string' },
        'allow-quic': { type: 'boolean', default: false },
        ipv6: { type: 'string', default: 'auto' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(USAGE);
    return 0;
  }
  let spec: CaptureSpec;
  try {
    const ports = numbers(values['capture-ports'], '--capture-ports');
    const kubeApi = io.env.KUBERNETES_SERVICE_HOST;
    const cidrs = (values['exclude-cidrs'] ?? '').split(',').map((c) => c.trim()).filter(Boolean);
    if (kubeApi && isIP(kubeApi) && !cidrs.includes(kubeApi)) cidrs.push(kubeApi);
    spec = {
      ports: ports.length > 0 ? ports : [...DEFAULT_CAPTURE_PORTS],
      outboundPort: values['outbound-port'] ? (numbers(values['outbound-port'], '--outbound-port')[0] as number) : DEFAULT_OUTBOUND_PORT,
      sidecarUid: values['exclude-uid'] ? (numbers(values['exclude-uid'], '--exclude-uid')[0] as number) : DEFAULT_SIDECAR_UID,
      excludeCidrs: cidrs,
      excludePorts: numbers(values['exclude-ports'], '--exclude-ports'),
      dropQuic: !values['allow-quic'],
    };
  } catch (err) {
    io.stderr.write(`mayfly init: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!['auto', 'on', 'off'].includes(values.ipv6 ?? 'auto')) {
    io.stderr.write(`mayfly init: --ipv6 must be auto, on or off\n`);
    return 2;
  }
  const errors = checkCaptureSpec(spec);
  if (errors.length > 0) {
    io.stderr.write(`mayfly init: invalid capture settings:\n${errors.map((e) => `  ${e}\n`).join('')}`);
    return 2;
  }
  const families: Family[] = values.ipv6 === 'off' ? [4] : [4, 6];
  io.stdout.write(`# listeners: ${[...listenerPorts(spec.outboundPort, spec.ports)].map(([p, l]) => `${p}->${l}`).join(' ')}\n`);
  for (const family of families) {
    const plan = buildRules(spec, family);
    const tool = family === 4 ? 'iptables' : 'ip6tables';
    io.stdout.write(`# ${tool}-restore --noflush\n${plan.restore}`);
    if (values['dry-run']) {
      for (const j of plan.jumps) io.stdout.write(`# ${tool} -t ${j.table} -I ${j.chain} 1 ${j.rule.join(' ')} (if missing)\n`);
      continue;
    }
    try {
      const added = await applyRules(plan);
      for (const j of plan.jumps) io.stdout.write(`# ${tool} -t ${j.table} ${j.chain}: ${j.rule.join(' ')} ${added.some((a) => a.includes(j.rule.join(' ')) && a.includes(`-t ${j.table}`)) ? '(added)' : '(present)'}\n`);
    } catch (err) {
      if (family === 6 && values.ipv6 === 'auto') {
        io.stderr.write(`mayfly init: ip6tables rules not applied (IPv6 unavailable?): ${(err as Error).message}\n`);
        continue;
      }
      io.stderr.write(`mayfly init: ${(err as Error).message}\n`);
      return 1;
    }
  }
  return 0;
};
