// Which request and response headers cross the sidecar. Pure. Hop-by-hop
// headers (and every header the app's Connection names) never cross; on a
// credentialed route, headers only the sidecar may set are removed before the
// decision, so an injected header appears exactly once.

/** Hop-by-hop headers (RFC 9110 7.6.1) plus the framing Node sets itself. */
export const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'transfer-encoding', 'proxy-authenticate']);

/** Credential and identity headers only the sidecar may set. */
export const SIDECAR_ONLY = new Set([
  'authorization',
  'proxy-authorization',
  'x-forwarded-client-cert',
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-access-token',
  'x-auth-request-user',
  'x-auth-request-email',
  'x-auth-request-access-token',
  'x-amz-security-token',
  'x-amz-date',
  'x-amz-content-sha256',
  'x-api-key',
]);

/**
 * On a SigV4 route the app's other x-amz-* headers (x-amz-meta-*, x-amz-acl,
 * x-amz-checksum-*, ...) are part of the request it asked for and are signed
 * again; only the signature and session headers are the sidecar's. The app's
 * x-amz-content-sha256 goes to the signer, which keeps an UNSIGNED-PAYLOAD
 * claim and otherwise replaces it with the hash of the body it forwards.
 */
const AWS_SIGNATURE = new Set(['x-amz-date', 'x-amz-security-token', 'x-amz-signature']);

function sidecarOnly(name: string, injected: string | null, signing = false): boolean {
  if (signing && name.startsWith('x-amz-')) return AWS_SIGNATURE.has(name);
  return SIDECAR_ONLY.has(name) || name.startsWith('x-amz-') || name.startsWith('x-mayfly-') || name === injected;
}

/** Header names the app's Connection header lists (they are hop-by-hop too). */
export function connectionTokens(rawHeaders: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] as string).toLowerCase() !== 'connection') continue;
    for (const t of (rawHeaders[i + 1] as string).split(',')) {
      const token = t.trim().toLowerCase();
      if (token) out.add(token);
    }
  }
  return out;
}

export interface ForwardHeaderOptions {
  /** Remove credential and identity headers (Enforce routes). */
  strip: boolean;
  /** The header a header-injection sets (lowercase), also stripped. */
  injectedHeader: string | null;
  /** The route signs requests with SigV4 (see AWS_SIGNATURE). */
  signing?: boolean;
}

/**
 * The app's headers that go upstream, as [name, value] pairs in their order,
 * without Host (the forwarder sets it) and without what must not cross.
 */
export function forwardRequestHeaders(rawHeaders: readonly string[], opts: ForwardHeaderOptions): Array<[string, string]> {
  const listed = connectionTokens(rawHeaders);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (lower === 'host' || HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    if (opts.strip && sidecarOnly(lower, opts.injectedHeader, opts.signing)) continue;
    out.push([name, rawHeaders[i + 1] as string]);
  }
  return out;
}

/** Which headers the app sent that the strip pass removed (names only, for audit). */
export function strippedNames(rawHeaders: readonly string[], injected: string | null, signing = false): string[] {
  const out = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = (rawHeaders[i] as string).toLowerCase();
    if (sidecarOnly(lower, injected, signing)) out.add(lower);
  }
  return [...out];
}

/** Upstream response headers that go back to the app. */
export function forwardResponseHeaders(rawHeaders: readonly string[]): Array<[string, string]> {
  const listed = connectionTokens(rawHeaders);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    out.push([name, rawHeaders[i + 1] as string]);
  }
  return out;
}
