// A ConfigSource that reads policies from a file and reloads it when it
// changes. A file that does not parse or has an invalid policy is refused as a
// whole: the last good snapshot stays in force (and the error is reported).
// A change is read only once the file has settled: most writers truncate the
// file and then write it, and a poll that falls between the two would see an
// empty file, which is a valid file of no policies. So after a change the file
// must keep the same size, mtime and inode from the poll that saw the change
// until after it was read, at least `settleMs`; otherwise what was read (or
// refused) is dropped and the wait starts over.
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

  /** The file's policies, or a ConfigFileError if it cannot be read or is not valid. */
  async #read(): Promise<PolicySnapshot> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      throw new ConfigFileError(`cannot read ${this.path}: ${(err as Error).message}`, [(err as Error).message], { cause: err });
    }
    const parsed = parsePolicyText(text);
    if (parsed.errors.length > 0) throw new ConfigFileError(`${this.path}: ${parsed.errors.length} invalid policies or documents`, parsed.errors);
    return Object.freeze({ revision: parsed.revision, policies: Object.freeze(parsed.policies) });
  }

  /** Hands on a snapshot unless it is the one already in force. */
  #deliver(snapshot: PolicySnapshot, onUpdate: (snapshot: PolicySnapshot) => void): void {
    if (snapshot.revision === this.#revision) return;
    this.#revision = snapshot.revision;
    onUpdate(snapshot);
  }

  /** Reads the file once (rejecting if it is not valid), then watches it. */
  async start(onUpdate: (snapshot: PolicySnapshot) => void): Promise<void> {
    await stat(this.path);
    this.#deliver(await this.#read(), onUpdate);
    this.#listener = (curr, prev) => {
      if (!same(curr, prev)) this.#settleThenRead(curr, onUpdate);
    };
    watchFile(this.path, { interval: this.#pollMs, persistent: false }, this.#listener);
  }

  /** Reads the file settleMs after a poll saw it as `seen`, and takes what it read if the file is still as seen. */
  #settleThenRead(seen: FileState, onUpdate: (snapshot: PolicySnapshot) => void): void {
    if (this.#settle !== null) clearTimeout(this.#settle);
    this.#settle = setTimeout(() => {
      this.#settle = null;
      this.#reading = this.#reading.then(async () => {
        if (this.#listener === null) return; // stopped
        const next = await this.#read().catch((err: ConfigFileError) => err);
        const after = await stat(this.path).catch(() => null);
        // changed since the poll, so what was read (or refused) may be half a
        // write: wait for it to settle
        if (after !== null && !same(after, seen)) return this.#settleThenRead(after, onUpdate);
        if (next instanceof ConfigFileError) this.#onError(next);
        else if (after !== null) this.#deliver(next, onUpdate); // a file gone since makes its own poll event
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
