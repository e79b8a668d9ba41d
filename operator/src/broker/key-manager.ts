// Keeps this replica's view of the shared signing keys current: loads the key
// set, applies the schedule (keys.ts), writes it back with optimistic
// concurrency (another replica may have rotated first; then its keys win), and
// repeats every `reloadMs`. Signing always uses the key the schedule says is
// active now; the JWKS always lists every key the schedule keeps.
import type { JWK } from 'jose';
import type { Logger } from 'pino';
import { realClock, type Clock, type TimerHandle } from '../machinery/clock.ts';
import { activeKey, DEFAULT_SCHEDULE, importSigningKey, maintainKeys, newKey, publicJwk, rotateNow, type ImportedKey, type KeySchedule, type KeyStore, type NewKey, type StoredKey } from './keys.ts';

export interface KeyManagerOptions {
  store: KeyStore;
  clock?: Clock;
  schedule?: Partial<KeySchedule>;
  /** How often every replica reloads and maintains the key set. Default 60 s (must be well below prePublishMs). */
  reloadMs?: number;
  logger?: Logger;
  newKey?: NewKey;
}

export class KeyManager {
  readonly schedule: KeySchedule;
  readonly #opts: KeyManagerOptions;
  readonly #clock: Clock;
  #keys: readonly StoredKey[] = [];
  #imported = new Map<string, Promise<ImportedKey>>();
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(opts: KeyManagerOptions) {
    this.#opts = opts;
    this.#clock = opts.clock ?? realClock;
    this.schedule = { ...DEFAULT_SCHEDULE, ...opts.schedule };
  }

  /** Loads (creating if needed) the key set and keeps it maintained. */
  async start(): Promise<void> {
    await this.maintain();
    this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #loop(): void {
    if (this.#stopped) return;
    this.#timer = this.#clock.setTimer(this.#opts.reloadMs ?? 60_000, () => {
      this.maintain().then(
        () => this.#loop(),
        (err: unknown) => {
          this.#opts.logger?.error({ err: (err as Error).message }, 'broker key maintenance failed');
          this.#loop();
        },
      );
    });
  }

  /** One round: load, apply the schedule, save if it changed (retrying on a conflict). */
  async maintain(transform?: (keys: readonly StoredKey[], now: number) => readonly StoredKey[]): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const { keys, version } = await this.#opts.store.load();
      const now = this.#clock.now();
      const wanted = await maintainKeys(transform ? transform(keys, now) : keys, now, this.schedule, this.#opts.newKey ?? newKey);
      if (wanted === keys && version !== null) {
        this.#use(keys);
        return;
      }
      if (await this.#opts.store.save(wanted, version)) {
        const before = activeKey(this.#keys, now)?.kid;
        this.#use(wanted);
        const after = activeKey(wanted, now)?.kid;
        if (before !== after) this.#opts.logger?.info({ kid: after, published: wanted.map((k) => k.kid) }, 'broker signing key activated');
        return;
      }
    }
    throw new Error('broker key set kept changing under us');
  }

  /** Activates the published successor at once and publishes a new one. */
  rotateNow(): Promise<void> {
    return this.maintain((keys, now) => rotateNow(keys, now));
  }

  #use(keys: readonly StoredKey[]): void {
    this.#keys = keys;
    for (const kid of this.#imported.keys()) if (!keys.some((k) => k.kid === kid)) this.#imported.delete(kid);
  }

  /** The key that signs now; throws when none is loaded. */
  async signingKey(): Promise<ImportedKey> {
    const k = activeKey(this.#keys, this.#clock.now());
    if (!k) throw new Error('no broker signing key');
    let imported = this.#imported.get(k.kid);
    if (!imported) {
      imported = importSigningKey(k);
      this.#imported.set(k.kid, imported);
    }
    return imported;
  }

  /** Every public key receivers may need: the active one, its successor, and retired ones still in use. */
  jwks(): { keys: JWK[] } {
    return { keys: this.#keys.map(publicJwk) };
  }
}
