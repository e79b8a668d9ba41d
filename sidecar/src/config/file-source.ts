// A ConfigSource that reads policies from a file and reloads it when it
// changes. A file that does not parse or has an invalid policy is refused as a
// whole: the last good snapshot stays in force (and the error is reported).
// A change is read only once the file has settled: most writers truncate the
// file and then write it, and a poll that falls between the two would see an
// empty file, which is a valid file of no policies. So after a change the file
// must keep the same size, mtime and inode for `settleMs` before it is read,
// and again from before the read to after it; otherwise the wait starts over.
import { readFile, stat } from 'node:fs/promises';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import type { ConfigSource, PolicySnapshot } from '../contracts.ts';
import { parsePolicyText } from './policies.ts';

export class ConfigFileError extends Error {
  readonly code = 'ERR_CONFIG_FILE';
  readonly errors: string[];
  constructor(message: string, errors: string[], options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ConfigFileError';
    this.errors = errors;
  }
}

export interface FileSourceOptions {
  /** How often to look at the file's mtime (ms). Polling survives renames and ConfigMap symlink swaps. */
  pollMs?: number;
  /** How long a changed file must stay unchanged before it is read (ms). */
  settleMs?: number;
  /** Told about a reload that was refused; the previous snapshot stays. */
  onError?: (err: ConfigFileError) => void;
}

type FileState = Pick<Stats, 'mtimeMs' | 'size' | 'ino'>;
const same = (a: FileState, b: FileState): boolean => a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;

export class FileConfigSource implements ConfigSource {
  readonly path: string;
  #pollMs: number;
  #settleMs: number;
  #settle: ReturnType<typeof setTimeout> | null = null;
  #onError: (err: ConfigFileError) => void;
  #revision: string | null = null;
  #listener: ((curr: Stats, prev: Stats) => void) | null = null;
  #reading: Promise<void> = Promise.resolve();

  constructor(path: string, opts: FileSourceOptions = {}) {
    this.path = path;
    this.#pollMs = opts.pollMs ?? 1000;
    this.#settleMs = opts.settleMs ?? 200;
    this.#onError = opts.onError ?? (() => {});
  }

  async #read(): Promise<PolicySnapshot | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      throw new ConfigFileError(`cannot read ${this.path}: ${(err as Error).message}`, [(err as Error).message], { cause: err });
    }
    const parsed = parsePolicyText(text);
    if (parsed.errors.length > 0) throw new ConfigFileError(`${this.path}: ${parsed.errors.length} invalid policies or documents`, parsed.errors);
    if (parsed.revision === this.#revision) return null;
    this.#revision = parsed.revision;
    return Object.freeze({ revision: parsed.revision, policies: Object.freeze(parsed.policies) });
  }

  /** Reads the file once (rejecting if it is not valid), then watches it. */
  async start(onUpdate: (snapshot: PolicySnapshot) => void): Promise<void> {
    await stat(this.path);
    const first = await this.#read();
    if (first) onUpdate(first);
    this.#listener = (curr, prev) => {
      if (!same(curr, prev)) this.#settleThenRead(curr, onUpdate);
    };
    watchFile(this.path, { interval: this.#pollMs, persistent: false }, this.#listener);
  }

  /** Reads the file once it has stayed as `seen` for settleMs, and was not changed while it was read. */
  #settleThenRead(seen: FileState, onUpdate: (snapshot: PolicySnapshot) => void): void {
    if (this.#settle !== null) clearTimeout(this.#settle);
    this.#settle = setTimeout(() => {
      this.#settle = null;
      this.#reading = this.#reading.then(async () => {
        if (this.#listener === null) return; // stopped
        let before: Stats;
        try {
          before = await stat(this.path);
        } catch (err) {
          this.#onError(new ConfigFileError(`cannot read ${this.path}: ${(err as Error).message}`, [(err as Error).message], { cause: err }));
          return;
        }
        if (!same(before, seen)) return this.#settleThenRead(before, onUpdate);
        const revision = this.#revision;
        try {
          const next = await this.#read();
          const after = await stat(this.path).catch(() => null);
          if (after === null || !same(after, before)) {
            // what was read may be half a write: read it again once it settles
            this.#revision = revision;
            if (after !== null) this.#settleThenRead(after, onUpdate);
            return;
          }
          if (next) onUpdate(next);
        } catch (err) {
          this.#onError(err as ConfigFileError);
        }
      });
    }, this.#settleMs);
    this.#settle.unref();
  }

  async stop(): Promise<void> {
    if (this.#listener) unwatchFile(this.path, this.#listener);
    this.#listener = null;
    if (this.#settle !== null) clearTimeout(this.#settle);
    this.#settle = null;
    await this.#reading;
  }
}
