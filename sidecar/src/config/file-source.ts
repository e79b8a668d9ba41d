// A ConfigSource that reads policies from a file and reloads it when it
// changes. A file that does not parse or has an invalid policy is refused as a
// whole: the last good snapshot stays in force (and the error is reported).
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
  /** Told about a reload that was refused; the previous snapshot stays. */
  onError?: (err: ConfigFileError) => void;
}

export class FileConfigSource implements ConfigSource {
  readonly path: string;
  #pollMs: number;
  #onError: (err: ConfigFileError) => void;
  #revision: string | null = null;
  #listener: ((curr: Stats, prev: Stats) => void) | null = null;
  #reading: Promise<void> = Promise.resolve();

  constructor(path: string, opts: FileSourceOptions = {}) {
    this.path = path;
    this.#pollMs = opts.pollMs ?? 1000;
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
      if (curr.mtimeMs === prev.mtimeMs && curr.size === prev.size && curr.ino === prev.ino) return;
      this.#reading = this.#reading.then(async () => {
        try {
          const next = await this.#read();
          if (next) onUpdate(next);
        } catch (err) {
          this.#onError(err as ConfigFileError);
        }
      });
    };
    watchFile(this.path, { interval: this.#pollMs, persistent: false }, this.#listener);
  }

  async stop(): Promise<void> {
    if (this.#listener) unwatchFile(this.path, this.#listener);
    this.#listener = null;
    await this.#reading;
  }
}
