// Framing checks on the raw request headers, for what Node's parser accepts but
// a proxy must not (THREATS.md 1, 3, 8): exactly one Host, at most one framing
// header, Transfer-Encoding exactly "chunked", no control characters. Pure.
import { lowerName } from './names.ts';

/** How the request body is framed: none, a Content-Length (maybe 0), or chunked. */
export type BodyFraming = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

const UNSAFE = /[\r\n\0]/;
const NO_BODY: BodyFraming = { kind: 'none' };
const CHUNKED: BodyFraming = { kind: 'chunked' };

export type FramingResult = { ok: true; host: string; body: BodyFraming } | { ok: false; reason: string };

export function checkFraming(rawHeaders: readonly string[], httpVersion: string): FramingResult {
  let host: string | null = null;
  let hosts = 0;
  let contentLength = 0;
  let transferEncoding = 0;
  let length = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = lowerName(rawHeaders[i] as string);
    const value = rawHeaders[i + 1] as string;
    if (UNSAFE.test(name) || UNSAFE.test(value)) return { ok: false, reason: 'header has CR, LF or NUL' };
    if (name === 'host') {
      hosts++;
      host ??= value;
    }
    else if (name === 'content-length') {
      contentLength++;
      if (!/^[0-9]{1,15}$/.test(value.trim())) return { ok: false, reason: 'malformed Content-Length' };
      length = Number(value.trim());
    } else if (name === 'transfer-encoding') {
      transferEncoding++;
      if (value.trim().toLowerCase() !== 'chunked') return { ok: false, reason: 'Transfer-Encoding other than "chunked"' };
    }
  }
  if (contentLength > 1) return { ok: false, reason: 'more than one Content-Length' };
  if (transferEncoding > 1) return { ok: false, reason: 'more than one Transfer-Encoding' };
  if (contentLength > 0 && transferEncoding > 0) return { ok: false, reason: 'both Content-Length and Transfer-Encoding' };
  if (transferEncoding > 0 && httpVersion === '1.0') return { ok: false, reason: 'Transfer-Encoding on HTTP/1.0' };
  if (hosts > 1) return { ok: false, reason: 'more than one Host header' };
  if (host === null) return { ok: false, reason: 'no Host header' };
  const body: BodyFraming = transferEncoding > 0 ? CHUNKED : contentLength > 0 ? { kind: 'length', length } : NO_BODY;
  return { ok: true, host, body };
}
