// The broker's signing keys. ES256 key pairs rotate on a schedule: each key is
// published in the JWKS `prePublishMs` before it starts signing (so receivers
// that cache the JWKS already know it), signs until its successor activates,
// and stays published until every token it can have signed has expired (its
// successor's activation plus the longest token lifetime). The schedule is a
// pure function of the key set and the time; the key set lives in a KeyStore
// shared by every controller replica, so they all sign with and publish the
// same keys.
import { randomUUID } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type CryptoKey, type JWK } from 'jose';

export interface StoredKey {
  kid: string;
  /** Private JWK (with `d`); never leaves the store and the broker. */
  privateJwk: JWK;
  /** Epoch ms from which it signs. */
  activatesAt: number;
}

export interface KeySchedule {
  rotationPeriodMs: number;
  prePublishMs: number;
  /** The longest lifetime of a token the broker issues; tokens are capped to it. */
  maxTokenTtlMs: number;
  /** Added to the retention for receivers with slightly wrong clocks. */
  leewayMs: number;
}

export const DEFAULT_SCHEDULE: KeySchedule = { rotationPeriodMs: 24 * 3600_000, prePublishMs: 3600_000, maxTokenTtlMs: 24 * 3600_000, leewayMs: 5 * 60_000 };

export type NewKey = (activatesAt: number) => Promise<StoredKey>;

export async function newKey(activatesAt: number): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const { d: _d, ...pub } = privateJwk;
  const kid = `${await calculateJwkThumbprint(pub, 'sha256')}`;
  return { kid, privateJwk: { ...privateJwk, kid, alg: 'ES256', use: 'sig' }, activatesAt };
}

/** The key that signs at `now`: the latest one already active. */
export function activeKey(keys: readonly StoredKey[], now: number): StoredKey | undefined {
  let best: StoredKey | undefined;
  for (const k of keys) if (k.activatesAt <= now && (!best || k.activatesAt > best.activatesAt)) best = k;
  return best;
}

/**
 * The key set as it should be at `now`: an active key, a published successor,
 * and every retired key whose tokens may still be valid. Returns the same array
 * when nothing changes.
 */
export async function maintainKeys(keys: readonly StoredKey[], now: number, s: KeySchedule, make: NewKey = newKey): Promise<readonly StoredKey[]> {
  let next = [...keys].sort((a, b) => a.activatesAt - b.activatesAt);
  let changed = false;
  if (!activeKey(next, now)) {
    next.push(await make(now));
    changed = true;
  }
  const active = activeKey(next, now) as StoredKey;
  if (!next.some((k) => k.activatesAt > now)) {
    next.push(await make(Math.max(active.activatesAt + s.rotationPeriodMs, now + s.prePublishMs)));
    changed = true;
  }
  next.sort((a, b) => a.activatesAt - b.activatesAt);
  // A key retires when its successor activates; keep it until its last token has expired.
  const kept = next.filter((k, i) => {
    const successor = next[i + 1];
    return !successor || successor.activatesAt > now || successor.activatesAt + s.maxTokenTtlMs + s.leewayMs > now;
  });
  if (kept.length !== next.length) changed = true;
  next = kept;
  return changed ? next : keys;
}

/** Makes the published successor active now (an operator's manual rotation, or a suspected key leak). */
export function rotateNow(keys: readonly StoredKey[], now: number): StoredKey[] {
  const upcoming = keys.filter((k) => k.activatesAt > now).sort((a, b) => a.activatesAt - b.activatesAt)[0];
  // Strictly after the current key's activation, so the two never tie.
  const at = Math.max(now, (activeKey(keys, now)?.activatesAt ?? now - 1) + 1);
  return keys.map((k) => (k === upcoming ? { ...k, activatesAt: at } : k));
}

export function publicJwk(k: StoredKey): JWK {
  const { d: _d, ...pub } = k.privateJwk;
  return pub;
}

export interface KeyStore {
  /** The stored keys and an opaque version for optimistic concurrency (null when nothing is stored). */
  load(): Promise<{ keys: StoredKey[]; version: string | null }>;
  /** Writes `keys` if the store is still at `version`; false when another replica wrote first. */
  save(keys: readonly StoredKey[], version: string | null): Promise<boolean>;
}

export class MemoryKeyStore implements KeyStore {
  #keys: StoredKey[] = [];
  #version: string | null = null;
  async load() {
    return { keys: [...this.#keys], version: this.#version };
  }
  async save(keys: readonly StoredKey[], version: string | null) {
    if (version !== this.#version) return false;
    this.#keys = [...keys];
    this.#version = randomUUID();
    return true;
  }
}

/** Serialises the key set for a Secret's data. */
export function encodeKeys(keys: readonly StoredKey[]): string {
  return JSON.stringify({ version: 1, keys });
}

export function decodeKeys(text: string): StoredKey[] {
  const parsed = JSON.parse(text) as { version?: number; keys?: unknown };
  if (parsed.version !== 1 || !Array.isArray(parsed.keys)) throw new Error('unrecognised key set');
  return parsed.keys.filter(
    (k): k is StoredKey => typeof k === 'object' && k !== null && typeof (k as StoredKey).kid === 'string' && typeof (k as StoredKey).activatesAt === 'number' && (k as StoredKey).privateJwk?.crv === 'P-256',
  );
}

export interface ImportedKey {
  kid: string;
  key: CryptoKey;
}

export async function importSigningKey(k: StoredKey): Promise<ImportedKey> {
  return { kid: k.kid, key: (await importJWK(k.privateJwk, 'ES256')) as CryptoKey };
}
