// Reads the projected service-account tokens the webhook mounts into the
// sidecar, one file per audience (token-paths.ts). The kubelet rewrites each
// token at 80% of its life through an atomic symlink swap, so a file is never
// trusted to be the one read last time: a directory watch marks everything
// dirty, and every read re-stats the file (inode, size, mtime) before using the
// cached copy. `exp` is decoded only to avoid presenting a token that has
// expired; it is not a security check (the receiver verifies the signature).
import { watch, type FSWatcher } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { CredentialError } from '../contracts.ts';
import { tokenPath } from './token-paths.ts';

export interface ProjectedToken {
  /** The compact JWT. */
  value: string;
  /** Epoch milliseconds, from the token's `exp`. */
  expiresAt: number;
}

export interface TokenSource {
  /** The current token for `audience`; rejects with ERR_NO_TOKEN when it is missing, malformed or expired. */
  read(audience: string): Promise<ProjectedToken>;
  close(): void;
}

export interface FileTokenSourceOptions {
  dir: string;
  now?: () => number;
  /** A token with less than this left is treated as expired. Default 5 s. */
  minRemainingMs?: number;
  /** Watch the directory for rewrites (default true); re-stat on read happens regardless. */
  watch?: boolean;
}

interface Entry {
  stamp: string;
  token: ProjectedToken;
}

/** The `exp` of a compact JWT in epoch milliseconds, without verifying anything. */
export function decodeExpiry(jwt: string): number {
  const parts = jwt.split('.');
  if (parts.length !== 3 || !parts[1]) throw new Error('not a compact jwt');
  const payload: unknown = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8'));
  const exp = (payload as { exp?: unknown } | null)?.exp;
  if (typeof exp !== 'number' || !Number.isFinite(exp)) throw new Error('jwt has no numeric exp');
  return exp * 1000;
}

export function createFileTokenSource(opts: FileTokenSourceOptions): TokenSource {
  const now = opts.now ?? Date.now;
  const minRemaining = opts.minRemainingMs ?? 5000;
  const cache = new Map<string, Entry>();
  let watcher: FSWatcher | undefined;
  if (opts.watch !== false) {
    try {
      watcher = watch(opts.dir, { recursive: true, persistent: false }, () => cache.clear());
      watcher.on('error', () => {
        // The directory went away or the watch broke: re-stat on read still notices rewrites.
        watcher?.close();
        watcher = undefined;
      });
    } catch {
      watcher = undefined;
    }
  }

  async function load(audience: string): Promise<ProjectedToken> {
    const path = tokenPath(opts.dir, audience);
    let stamp: string;
    try {
      const st = await stat(path);
      stamp = `${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
    } catch (err) {
      throw new CredentialError('ERR_NO_TOKEN', 'projected token missing', { cause: err });
    }
    const cached = cache.get(audience);
    if (cached && cached.stamp === stamp) return cached.token;
    let value: string;
    try {
      value = (await readFile(path, 'utf8')).trim();
    } catch (err) {
      throw new CredentialError('ERR_NO_TOKEN', 'projected token unreadable', { cause: err });
    }
    let expiresAt: number;
    try {
      expiresAt = decodeExpiry(value);
    } catch (err) {
      throw new CredentialError('ERR_NO_TOKEN', 'projected token malformed', { cause: err });
    }
    const token = { value, expiresAt };
    cache.set(audience, { stamp, token });
    return token;
  }

  return {
    async read(audience) {
      const token = await load(audience);
      if (token.expiresAt - minRemaining <= now()) {
        throw new CredentialError('ERR_NO_TOKEN', 'projected token expired');
      }
      return token;
    },
    close() {
      watcher?.close();
      watcher = undefined;
      cache.clear();
    },
  };
}
