// The capture rules of transparent mode, as iptables-restore input. Pure: the
// init command applies them. Each family gets its own chains (flushed and
// rebuilt on every run) and one jump from OUTPUT, so applying twice is a no-op.
import { isIP } from 'node:net';

export const NAT_CHAIN = 'MAYFLY_OUTPUT';
export const FILTER_CHAIN = 'MAYFLY_QUIC';
/** The first sidecar listener of transparent mode (webhook DEFAULT_PORTS.outbound). */
export const DEFAULT_OUTBOUND_PORT = 15001;
export const DEFAULT_CAPTURE_PORTS: readonly number[] = [80, 443];
export const DEFAULT_SIDECAR_UID = 1337;
/** At most this many captured ports (each has its own listener, so the sidecar knows the port the app dialled). */
export const MAX_CAPTURE_PORTS = 16;

export interface CaptureSpec {
  /** TCP destination ports to redirect to the sidecar. */
  ports: readonly number[];
  /** Listener of the lowest captured port; the next ones follow (see listenerPorts). */
  outboundPort: number;
  /** The sidecar's UID: its own traffic is never captured. */
  sidecarUid: number;
  /** Destinations (CIDR or address) never captured, e.g. the Kubernetes API service IP. */
  excludeCidrs: readonly string[];
  /** Destination ports never captured (checked before the redirects). */
  excludePorts: readonly number[];
  /** Drop outbound UDP 443 so that clients fall back from QUIC to TCP. */
  dropQuic: boolean;
}

export type Family = 4 | 6;

export interface Jump {
  table: 'nat' | 'filter';
  chain: 'OUTPUT';
  /** Arguments after "-I OUTPUT 1" / "-C OUTPUT". */
  rule: string[];
}

export interface RulePlan {
  family: Family;
  /** Input for `iptables-restore --noflush`: declares (and so flushes) Mayfly's chains and fills them. */
  restore: string;
  /** Jumps from OUTPUT into Mayfly's chains, added only when missing. */
  jumps: Jump[];
}

export class CaptureSpecError extends Error {
  readonly code = 'ERR_CAPTURE_SPEC';
  constructor(message: string) {
    super(message);
    this.name = 'CaptureSpecError';
  }
}

/**
 * The sidecar listener of each captured port: the captured ports in ascending
 * order get outboundPort, outboundPort + 1, ... (80 -> 15001, 443 -> 15002).
 * A REDIRECT loses the original port, so one listener per port keeps it.
 * `mayfly init` and `mayfly sidecar` both call this with the same inputs.
 */
export function listenerPorts(outboundPort: number, ports: readonly number[]): Map<number, number> {
  const sorted = [...new Set(ports)].sort((a, b) => a - b);
  return new Map(sorted.map((p, i) => [p, outboundPort + i]));
}

/** Every problem with a spec, empty when it is usable. */
export function checkCaptureSpec(spec: CaptureSpec): string[] {
  const errors: string[] = [];
  if (spec.ports.length === 0) errors.push('no ports to capture');
  if (new Set(spec.ports).size > MAX_CAPTURE_PORTS) errors.push(`at most ${MAX_CAPTURE_PORTS} ports can be captured`);
  if (!Number.isInteger(spec.outboundPort) || spec.outboundPort < 1 || spec.outboundPort + new Set(spec.ports).size - 1 > 65535) errors.push(`outbound port ${spec.outboundPort} is out of range`);
  const listeners = new Set(listenerPorts(spec.outboundPort, spec.ports).values());
  for (const p of spec.ports) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) errors.push(`capture port ${p} is not a port`);
    if (spec.excludePorts.includes(p)) errors.push(`port ${p} is both captured and excluded`);
    if (listeners.has(p)) errors.push(`capture port ${p} collides with a sidecar listener port`);
  }
  for (const p of spec.excludePorts) if (!Number.isInteger(p) || p < 1 || p > 65535) errors.push(`excluded port ${p} is not a port`);
  if (!Number.isInteger(spec.sidecarUid) || spec.sidecarUid < 1) errors.push(`sidecar uid ${spec.sidecarUid} must be a positive integer (never root)`);
  for (const c of spec.excludeCidrs) if (cidrFamily(c) === null) errors.push(`${JSON.stringify(c)} is not an address or CIDR`);
  return errors;
}

/** 4 or 6 for an address or CIDR, null when it is neither. */
export function cidrFamily(cidr: string): Family | null {
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(cidr);
  if (!m) return null;
  const family = isIP(m[1] as string);
  if (family === 0) return null;
  const bits = m[2] === undefined ? null : Number(m[2]);
  if (bits !== null && bits > (family === 4 ? 32 : 128)) return null;
  return family as Family;
}

/** The rules for one family. Throws CaptureSpecError on an unusable spec. */
export function buildRules(spec: CaptureSpec, family: Family): RulePlan {
  const errors = checkCaptureSpec(spec);
  if (errors.length > 0) throw new CaptureSpecError(errors.join('; '));
  const loopback = family === 4 ? '127.0.0.0/8' : '::1/128';
  const nat = [
    '*nat',
    `:${NAT_CHAIN} - [0:0]`,
    `-A ${NAT_CHAIN} -m owner --uid-owner ${spec.sidecarUid} -j RETURN`,
    `-A ${NAT_CHAIN} -o lo -j RETURN`,
    `-A ${NAT_CHAIN} -d ${loopback} -j RETURN`,
    ...spec.excludeCidrs.filter((c) => cidrFamily(c) === family).map((c) => `-A ${NAT_CHAIN} -d ${c} -j RETURN`),
    ...spec.excludePorts.map((p) => `-A ${NAT_CHAIN} -p tcp --dport ${p} -j RETURN`),
    ...[...listenerPorts(spec.outboundPort, spec.ports)].map(([p, l]) => `-A ${NAT_CHAIN} -p tcp --dport ${p} -j REDIRECT --to-ports ${l}`),
    'COMMIT',
  ];
  const filter = spec.dropQuic
    ? ['*filter', `:${FILTER_CHAIN} - [0:0]`, `-A ${FILTER_CHAIN} -m owner --uid-owner ${spec.sidecarUid} -j RETURN`, `-A ${FILTER_CHAIN} -p udp --dport 443 -j DROP`, 'COMMIT']
    : ['*filter', `:${FILTER_CHAIN} - [0:0]`, 'COMMIT'];
  return {
    family,
    restore: [...nat, ...filter, ''].join('\n'),
    jumps: [
      { table: 'nat', chain: 'OUTPUT', rule: ['-p', 'tcp', '-j', NAT_CHAIN] },
      { table: 'filter', chain: 'OUTPUT', rule: ['-p', 'udp', '-j', FILTER_CHAIN] },
    ],
  };
}
