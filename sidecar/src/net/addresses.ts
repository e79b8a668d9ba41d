// Classifies the addresses a destination resolves to. Pure. Loopback,
// link-local (cloud metadata), unspecified and multicast are never dialled;
// private ranges only for a policy that allows them (THREATS.md 14).
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type AddressClass = 'public' | 'private' | 'loopback' | 'link-local' | 'unspecified' | 'multicast';

function list(entries: Array<[string, number, 'ipv4' | 'ipv6']>): BlockList {
  const b = new BlockList();
  for (const [a, p, t] of entries) b.addSubnet(a, p, t);
  return b;
}

const LOOPBACK = list([['127.0.0.0', 8, 'ipv4'], ['::1', 128, 'ipv6']]);
const LINK_LOCAL = list([['169.254.0.0', 16, 'ipv4'], ['fe80::', 10, 'ipv6'], ['fd00:ec2::', 32, 'ipv6']]);
const UNSPECIFIED = list([['0.0.0.0', 8, 'ipv4'], ['::', 128, 'ipv6']]);
const MULTICAST = list([['224.0.0.0', 4, 'ipv4'], ['240.0.0.0', 4, 'ipv4'], ['ff00::', 8, 'ipv6']]);
const PRIVATE = list([
  ['10.0.0.0', 8, 'ipv4'],
  ['172.16.0.0', 12, 'ipv4'],
  ['192.168.0.0', 16, 'ipv4'],
  ['100.64.0.0', 10, 'ipv4'],
  ['192.0.0.0', 24, 'ipv4'],
  ['198.18.0.0', 15, 'ipv4'],
  ['fc00::', 7, 'ipv6'],
  ['fec0::', 10, 'ipv6'],
]);

/** The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4), if any. */
export function embeddedIPv4(address: string): string | null {
  const a = address.toLowerCase();
  const dotted = /^(?:::ffff:|::|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(a);
  if (dotted) return dotted[1] as string;
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(a);
  if (hex) {
    const hi = parseInt(hex[1] as string, 16);
    const lo = parseInt(hex[2] as string, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  const sixToFour = /^2002:([0-9a-f]{1,4}):([0-9a-f]{1,4}):/.exec(a);
  if (sixToFour) {
    const hi = parseInt(sixToFour[1] as string, 16);
    const lo = parseInt(sixToFour[2] as string, 16);
    return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  }
  return null;
}

export function classifyAddress(address: string): AddressClass {
  if (isIPv6(address)) {
    const v4 = embeddedIPv4(address);
    if (v4 !== null) return classifyAddress(v4);
  }
  const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : null;
  if (type === null) return 'unspecified';
  if (UNSPECIFIED.check(address, type)) return 'unspecified';
  if (LOOPBACK.check(address, type)) return 'loopback';
  if (LINK_LOCAL.check(address, type)) return 'link-local';
  if (MULTICAST.check(address, type)) return 'multicast';
  if (PRIVATE.check(address, type)) return 'private';
  return 'public';
}

/** Whether the sidecar may dial this address: private only when allowed, the rest never. */
export function dialable(address: string, allowPrivate: boolean): { ok: true } | { ok: false; class: AddressClass } {
  const c = classifyAddress(address);
  if (c === 'public' || (c === 'private' && allowPrivate)) return { ok: true };
  return { ok: false, class: c };
}
