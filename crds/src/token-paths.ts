// Where the projected service-account tokens live inside the sidecar: the one
// contract between the webhook (which mounts them) and the sidecar's token
// source (which reads them). No dependencies beyond node:crypto.
//
// One projected volume is mounted at the token directory; each audience gets
// its own sub-directory `<dir>/<sanitized audience>/token`. Audiences are URLs
// or URNs ("api://AzureADTokenExchange", "//iam.googleapis.com/..."), so the
// directory name is a readable slug plus a hash of the exact audience: two
// audiences never share a file, and the name is a valid path segment.
import { createHash } from 'node:crypto';

/** Where the webhook mounts the projected token volume in the sidecar container. */
export const DEFAULT_TOKEN_DIR = '/var/run/secrets/mayfly/tokens';

/** The file name of each token inside its audience directory. */
export const TOKEN_FILE = 'token';

/** A lowercase slug of the audience (at most 40 characters) plus 8 hex digits of its SHA-256. */
export function sanitizeAudience(audience: string): string {
  if (audience === '') throw new Error('audience must not be empty');
  const slug = audience
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/g, '');
  const hash = createHash('sha256').update(audience).digest('hex').slice(0, 8);
  return slug === '' ? hash : `${slug}-${hash}`;
}

/** The token's path relative to the volume: the `path` of the projected serviceAccountToken source. */
export function tokenRelativePath(audience: string): string {
  return `${sanitizeAudience(audience)}/${TOKEN_FILE}`;
}

/** The absolute path of the token for `audience` under `dir`. */
export function tokenPath(dir: string, audience: string): string {
  return `${dir.replace(/\/+$/, '')}/${tokenRelativePath(audience)}`;
}
