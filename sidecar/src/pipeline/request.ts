// The front of the pipeline as pure passes over what Node parsed: framing
// checks, the target and authority, and the canonical request facts. No I/O.
import type { FrontRequest } from '../server/http1.ts';
import { checkFraming, type BodyFraming } from '../http/framing.ts';
import { parseAuthority, type Authority } from '../http/authority.ts';
import { parseAbsoluteTarget, splitTarget, type Target } from '../http/path.ts';
import type { SidecarError } from './respond.ts';

/** How a client connection reached the sidecar. */
export interface ConnInfo {
  /** Whether the client spoke TLS to us (and so the upstream is TLS). */
  tls: boolean;
  /** Canonical SNI of a terminated TLS connection. */
  sni: string | null;
  /** The destination port the app dialled (captured port or CONNECT port); null on the explicit proxy's own socket. */
  port: number | null;
  via: 'transparent' | 'proxy' | 'tunnel';
  /** The canonical host a CONNECT tunnel was opened to; requests in it must name it. */
  tunnelHost?: string;
}

export interface ParsedRequest {
  authority: Authority;
  port: number;
  tls: boolean;
  target: Target;
  body: BodyFraming;
}

/** Host header values repeat on every request of a connection: their canonical form is remembered (bounded). */
const AUTHORITIES_MAX = 1024;
let authorities = new Map<string, ReturnType<typeof parseAuthority>>();
function hostAuthority(text: string): ReturnType<typeof parseAuthority> {
  let a = authorities.get(text);
  if (a === undefined) {
    a = parseAuthority(text);
    if (authorities.size >= AUTHORITIES_MAX) authorities = new Map();
    authorities.set(text, a);
  }
  return a;
}

function bad(message: string, status = 400): { ok: false; error: SidecarError } {
  return { ok: false, error: { status, code: status === 421 ? 'misdirected' : 'bad-request', message, close: status === 400 } };
}

/** Parse and canonicalise: framing, absolute-form, Host, SNI vs Host, port. */
export function parseRequest(req: Pick<FrontRequest, 'rawHeaders' | 'httpVersion' | 'url' | 'method'>, conn: ConnInfo): { ok: true; request: ParsedRequest } | { ok: false; error: SidecarError } {
  const framing = checkFraming(req.rawHeaders, req.httpVersion);
  if (!framing.ok) return bad(`rejected request: ${framing.reason}`);
  const host = hostAuthority(framing.host);
  if (!host.ok) return bad(`rejected Host header: ${host.reason}`);
  let url = req.url;
  let port = conn.port;
  const absolute = /^[a-z][a-z0-9+.-]*:\/\//i.test(url);
  if (absolute) {
    const abs = parseAbsoluteTarget(url);
    if (!abs.ok) return bad(`rejected request target: ${abs.reason}`);
    if (abs.scheme !== 'http' || conn.tls) return bad('rejected request target: only http:// absolute-form is accepted on a plain connection; use CONNECT for https');
    const a = parseAuthority(abs.authority);
    if (!a.ok) return bad(`rejected request target: ${a.reason}`);
    if (a.authority.host !== host.authority.host || (a.authority.port ?? 80) !== (host.authority.port ?? 80)) return bad('rejected request: absolute-form target and Host differ');
    url = abs.rest;
    port ??= a.authority.port ?? 80;
  } else if (conn.via === 'proxy') {
    return bad('rejected request: a proxy request needs an absolute-form target or CONNECT');
  }
  if (port === null) return bad('rejected request: no destination port');
  if (host.authority.port !== null && host.authority.port !== port) return bad('rejected request: Host port differs from the connection');
  if (conn.tunnelHost !== undefined && conn.tunnelHost !== host.authority.host) return bad('the Host header names another server than the CONNECT target', 421);
  if (conn.tls && conn.sni !== host.authority.host) return bad('the Host header names another server than the TLS server name', 421);
  if (req.method === 'CONNECT') return bad('rejected request: CONNECT inside a tunnel');
  const target = splitTarget(url);
  if (!target.ok) return bad(`rejected request target: ${target.reason}`);
  return { ok: true, request: { authority: host.authority, port, tls: conn.tls, target: target.target, body: framing.body } };
}
