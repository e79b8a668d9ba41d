// Which request and response headers cross the sidecar. Pure. Hop-by-hop
// headers (and every header the app's Connection names) never cross; on a
// credentialed route, headers only the sidecar may set are removed before the
// decision, so an injected header appears exactly once.
import { lowerName } from './names.ts';

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

/** Header names a Connection header lists (they are hop-by-hop too); null when there is none. */
function listedTokens(rawHeaders: readonly string[]): Set<string> | null {
  let out: Set<string> | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 10 || lowerName(name) !== 'connection') continue;
    for (const t of (rawHeaders[i + 1] as string).split(',')) {
      const token = t.trim().toLowerCase();
      if (token) (out ??= new Set()).add(token);
    }
  }
  return out;
}

/** Header names the app's Connection header lists (they are hop-by-hop too). */
export function connectionTokens(rawHeaders: readonly string[]): Set<string> {
  return listedTokens(rawHeaders) ?? new Set();
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
 * The strip pass in one walk over the app's raw headers: what goes upstream is
 * appended to `out` as flat name, value pairs in the app's order, without Host
 * (the forwarder sets it), hop-by-hop headers, what Connection names, Expect
 * (the sidecar already answered 100-continue) and, on credentialed routes,
 * what only the sidecar may set; the names of those are added to `stripped`
 * once each (lowercase, for audit).
 */
export function appendRequestHeaders(rawHeaders: readonly string[], opts: ForwardHeaderOptions, out: string[], stripped: string[] | null): void {
  const listed = listedTokens(rawHeaders);
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = lowerName(name);
    if (lower === 'host') continue;
    if (opts.strip && sidecarOnly(lower, opts.injectedHeader, opts.signing)) {
      if (stripped !== null && !stripped.includes(lower)) stripped.push(lower);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || lower === 'expect' || (listed !== null && listed.has(lower))) continue;
    out.push(name, rawHeaders[i + 1] as string);
  }
}

/**
 * The app's headers that go upstream, as [name, value] pairs in their order
 * (see appendRequestHeaders).
 */
export function forwardRequestHeaders(rawHeaders: readonly string[], opts: ForwardHeaderOptions): Array<[string, string]> {
  const flat: string[] = [];
  appendRequestHeaders(rawHeaders, opts, flat, null);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

/** Which headers the app sent that the strip pass removed (names only, for audit). */
export function strippedNames(rawHeaders: readonly string[], injected: string | null, signing = false): string[] {
  const stripped: string[] = [];
  appendRequestHeaders(rawHeaders, { strip: true, injectedHeader: injected, signing }, [], stripped);
  return stripped;
}

/** Upstream response headers that go back to the app, as [name, value] pairs. */
export function forwardResponseHeaders(rawHeaders: readonly string[]): Array<[string, string]> {
  const listed = listedTokens(rawHeaders);
  const out: Array<[string, string]> = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    const lower = lowerName(name);
    if (HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower))) continue;
    out.push([name, rawHeaders[i + 1] as string]);
  }
  return out;
}

/** Upstream response headers (flat name, value strings, as the HTTP parser hands them over) that go back to the app, appended flat to `out`. */
export function appendResponseHeaders(raw: readonly string[], out: string[]): void {
  const start = out.length;
  let connection = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = lowerName(name);
    if (lower === 'connection') connection = true;
    if (HOP_BY_HOP.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (!connection) return;
  // rare: drop what the upstream's Connection header names as hop-by-hop too
  const tokens = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (lowerName(raw[i] as string) !== 'connection') continue;
    for (const t of (raw[i + 1] as string).split(',')) if (t.trim()) tokens.add(t.trim().toLowerCase());
  }
  let w = start;
  for (let r = start; r < out.length; r += 2) {
    if (tokens.has(lowerName(out[r] as string))) continue;
    out[w++] = out[r] as string;
    out[w++] = out[r + 1] as string;
  }
  out.length = w;
}

/** W3C trace context the app sent (first of each), for the audit line. */
export function traceContext(rawHeaders: readonly string[], into: { traceparent?: string; tracestate?: string }): void {
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string;
    if (name.length !== 11 && name.length !== 10) continue;
    const lower = lowerName(name);
    if (lower === 'traceparent') into.traceparent ??= rawHeaders[i + 1] as string;
    else if (lower === 'tracestate') into.tracestate ??= rawHeaders[i + 1] as string;
  }
}
