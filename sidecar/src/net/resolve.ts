// Resolves a destination once, checks the address, and hands back the address
// to dial, so that what was checked is what is connected to (no DNS rebinding
// between check and connect). Short positive cache to keep lookups off the hot path.
import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { dialable, type AddressClass } from './addresses.ts';

export type Lookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

export const systemLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

export class ResolveError extends Error {
  readonly code: 'ERR_RESOLVE' | 'ERR_ADDRESS_FORBIDDEN';
  readonly addressClass?: AddressClass;
  constructor(code: 'ERR_RESOLVE' | 'ERR_ADDRESS_FORBIDDEN', message: string, addressClass?: AddressClass, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ResolveError';
    this.code = code;
    if (addressClass) this.addressClass = addressClass;
  }
}

export interface Resolver {
  /** The address to dial for `host`; rejects with ResolveError when none may be dialled. */
  resolve(host: string, allowPrivate: boolean): Promise<string>;
}

export function createResolver(lookup: Lookup = systemLookup, ttlMs = 5000, now: () => number = Date.now): Resolver {
  const cache = new Map<string, { addresses: string[]; until: number }>();
  async function addresses(host: string): Promise<string[]> {
    if (isIP(host)) return [host];
    const hit = cache.get(host);
    if (hit && hit.until > now()) return hit.addresses;
    let found;
    try {
      found = await lookup(host);
    } catch (err) {
      throw new ResolveError('ERR_RESOLVE', `cannot resolve ${host}`, undefined, { cause: err });
    }
    const list = found.map((f) => f.address);
    if (list.length === 0) throw new ResolveError('ERR_RESOLVE', `cannot resolve ${host}`);
    if (cache.size > 1000) cache.clear();
    cache.set(host, { addresses: list, until: now() + ttlMs });
    return list;
  }
  return {
    async resolve(host, allowPrivate) {
      const list = await addresses(host);
      // Every address must pass: a name that resolves to one public and one
      // metadata address is refused, rather than racing which one is dialled.
      for (const a of list) {
        const ok = dialable(a, allowPrivate);
        if (!ok.ok) throw new ResolveError('ERR_ADDRESS_FORBIDDEN', `${host} resolves to a ${ok.class} address`, ok.class);
      }
      return list[0] as string;
    },
  };
}
