// Reads the server name (SNI) and ALPN offer from a buffered TLS ClientHello
// without consuming it. Pure and bounded: it looks at most MAX_HELLO_BYTES and
// says "need more" until the whole ClientHello has arrived.

/** A ClientHello larger than this is refused (the largest real ones are ~2 KiB). */
export const MAX_HELLO_BYTES = 16 * 1024;

export type HelloResult =
  | { kind: 'need-more' }
  | { kind: 'not-tls' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'hello'; serverName: string | null; alpn: string[] };

/** True when the first byte says a TLS handshake record follows. */
export function looksLikeTls(first: number): boolean {
  return first === 0x16;
}

/** Joins the handshake fragments of consecutive TLS records. */
function handshakeBytes(buf: Buffer): { data: Buffer; complete: boolean } | { invalid: string } {
  const parts: Buffer[] = [];
  let offset = 0;
  let total = 0;
  let need = -1;
  while (offset + 5 <= buf.length) {
    if (buf[offset] !== 0x16) return { invalid: 'record is not a handshake' };
    if (buf[offset + 1] !== 0x03) return { invalid: 'unknown record version' };
    const len = buf.readUInt16BE(offset + 3);
    if (len === 0 || len > 16384) return { invalid: 'bad record length' };
    if (offset + 5 + len > buf.length) {
      parts.push(buf.subarray(offset + 5));
      total += buf.length - offset - 5;
      offset = buf.length;
      break;
    }
    parts.push(buf.subarray(offset + 5, offset + 5 + len));
    total += len;
    offset += 5 + len;
    if (need < 0 && total >= 4) {
      const joined = Buffer.concat(parts);
      if (joined[0] !== 0x01) return { invalid: 'first handshake message is not a ClientHello' };
      need = 4 + joined.readUIntBE(1, 3);
      if (need > MAX_HELLO_BYTES) return { invalid: 'ClientHello too large' };
    }
    if (need >= 0 && total >= need) return { data: Buffer.concat(parts).subarray(0, need), complete: true };
  }
  const joined = Buffer.concat(parts);
  if (need < 0 && joined.length >= 4) {
    if (joined[0] !== 0x01) return { invalid: 'first handshake message is not a ClientHello' };
    need = 4 + joined.readUIntBE(1, 3);
    if (need > MAX_HELLO_BYTES) return { invalid: 'ClientHello too large' };
  }
  return { data: joined, complete: need >= 0 && joined.length >= need };
}

/** Parses as much of a ClientHello as `buf` holds. */
export function parseClientHello(buf: Buffer): HelloResult {
  if (buf.length === 0) return { kind: 'need-more' };
  if (!looksLikeTls(buf[0] as number)) return { kind: 'not-tls' };
  if (buf.length > MAX_HELLO_BYTES + 5 * 8) return { kind: 'invalid', reason: 'ClientHello too large' };
  const hs = handshakeBytes(buf);
  if ('invalid' in hs) return { kind: 'invalid', reason: hs.invalid };
  if (!hs.complete) return buf.length >= MAX_HELLO_BYTES ? { kind: 'invalid', reason: 'ClientHello too large' } : { kind: 'need-more' };
  try {
    return parseHelloBody(hs.data.subarray(4));
  } catch {
    return { kind: 'invalid', reason: 'truncated ClientHello' };
  }
}

class Reader {
  buf: Buffer;
  pos = 0;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  need(n: number): void {
    if (this.pos + n > this.buf.length) throw new RangeError('truncated');
  }
  u8(): number {
    this.need(1);
    return this.buf[this.pos++] as number;
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const v = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }
}

function parseHelloBody(body: Buffer): HelloResult {
  const r = new Reader(body);
  r.bytes(2 + 32); // legacy_version, random
  r.bytes(r.u8()); // session id
  r.bytes(r.u16()); // cipher suites
  r.bytes(r.u8()); // compression methods
  let serverName: string | null = null;
  const alpn: string[] = [];
  if (r.pos === body.length) return { kind: 'hello', serverName, alpn };
  const ext = new Reader(r.bytes(r.u16()));
  const seen = new Set<number>();
  while (ext.pos < ext.buf.length) {
    const type = ext.u16();
    const data = new Reader(ext.bytes(ext.u16()));
    if (seen.has(type)) return { kind: 'invalid', reason: 'duplicate extension' };
    seen.add(type);
    if (type === 0) {
      const list = new Reader(data.bytes(data.u16()));
      while (list.pos < list.buf.length) {
        const nameType = list.u8();
        const name = list.bytes(list.u16());
        if (nameType !== 0) continue;
        if (serverName !== null) return { kind: 'invalid', reason: 'more than one server name' };
        const text = name.toString('latin1');
        if (!/^[\x21-\x7e]{1,255}$/.test(text)) return { kind: 'invalid', reason: 'server name is not printable ASCII' };
        serverName = text;
      }
    } else if (type === 16) {
      const list = new Reader(data.bytes(data.u16()));
      while (list.pos < list.buf.length) alpn.push(list.bytes(list.u8()).toString('latin1'));
    }
  }
  return { kind: 'hello', serverName, alpn };
}
