// A DER encoder (ITU-T X.690) for the handful of ASN.1 types an X.509
// certificate is made of, and the certificate and extensions the pod CA
// issues (RFC 5280). Pure: bytes in, bytes out; keys and signatures stay with
// node:crypto.
//
// Why not a library: @peculiar/x509 did this with a general ASN.1 schema
// stack (about 750 KB of JavaScript, reflect-metadata and a DI container) that
// stayed resident in every pod: 10 MiB of the sidecar's RSS, measured bundled.
// The pod CA needs only to write two fixed certificate shapes, which is this
// file. The tests decode what it writes with OpenSSL (node:crypto, `openssl
// verify`) and with @peculiar/x509 as an independent parser.

/** One TLV: tag, definite length, contents. */
export function tlv(tag: number, ...contents: Uint8Array[]): Buffer {
  const body = contents.length === 1 ? (contents[0] as Uint8Array) : Buffer.concat(contents);
  const n = body.length;
  let head: number[];
  if (n < 0x80) head = [tag, n];
  else {
    const len: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) len.unshift(v & 0xff);
    head = [tag, 0x80 | len.length, ...len];
  }
  return Buffer.concat([Buffer.from(head), body]);
}

export const sequence = (...items: Uint8Array[]): Buffer => tlv(0x30, ...items);
/** A SET of one element (DER sorts a SET OF; with one element there is nothing to sort). */
export const setOfOne = (item: Uint8Array): Buffer => tlv(0x31, item);
export const boolean = (v: boolean): Buffer => tlv(0x01, Buffer.from([v ? 0xff : 0x00]));
export const octetString = (b: Uint8Array): Buffer => tlv(0x04, b);
export const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
/** A BIT STRING of whole bytes (no unused bits), as keys and signatures are. */
export const bitString = (b: Uint8Array): Buffer => tlv(0x03, Buffer.from([0]), b);
/** [n] EXPLICIT: a constructed context tag around a complete encoding. */
export const explicit = (n: number, inner: Uint8Array): Buffer => tlv(0xa0 | n, inner);
/** [n] IMPLICIT of a primitive type: the contents with the context tag in place of the type's own. */
export const implicitPrimitive = (n: number, contents: Uint8Array): Buffer => tlv(0x80 | n, contents);

/** A non-negative INTEGER from big-endian bytes, in its minimal form (a 0x00 in front only if the top bit is set). */
export function unsignedInteger(bytes: Uint8Array): Buffer {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const b = bytes.subarray(i);
  if (b.length === 0) return tlv(0x02, Buffer.from([0]));
  return (b[0] as number) & 0x80 ? tlv(0x02, Buffer.from([0]), b) : tlv(0x02, b);
}

export function smallInteger(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`integer out of range: ${n}`);
  return unsignedInteger(Buffer.from([n >> 8, n & 0xff]));
}

/** An OBJECT IDENTIFIER from dotted form ("2.5.29.19"). */
export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0) || (arcs[0] as number) > 2 || ((arcs[0] as number) < 2 && (arcs[1] as number) > 39)) {
    throw new RangeError(`not an object identifier: ${dotted}`);
  }
  const out: number[] = [];
  for (const arc of [(arcs[0] as number) * 40 + (arcs[1] as number), ...arcs.slice(2)]) {
    const chunk = [arc % 128];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | v % 128);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** A certificate validity time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5), whole seconds. */
export function time(ms: number): Buffer {
  const iso = new Date(Math.floor(ms / 1000) * 1000).toISOString(); // 2026-11-23T03:30:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z'; // 20261123033000Z
  const year = Number(iso.slice(0, 4));
  if (year < 1950 || year > 9999) throw new RangeError(`time out of range: ${iso}`);
  return year < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'latin1')) : tlv(0x18, Buffer.from(digits, 'latin1'));
}

// ---- X.509 (RFC 5280) ----

export const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  organizationalUnit: '2.5.4.11',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  nameConstraints: '2.5.29.30',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** A distinguished name of single-valued RDNs, in the order given (most significant first), each a UTF8String. */
export function name(rdns: ReadonlyArray<readonly [oid: string, value: string]>): Buffer {
  return sequence(...rdns.map(([oid, value]) => setOfOne(sequence(objectIdentifier(oid), utf8String(value)))));
}

export function extension(oid: string, critical: boolean, value: Uint8Array): Buffer {
  return critical ? sequence(objectIdentifier(oid), boolean(true), octetString(value)) : sequence(objectIdentifier(oid), octetString(value));
}

export function basicConstraints(ca: boolean, pathLength?: number): Buffer {
  // cA DEFAULT FALSE: DER leaves a default value out, so a leaf's is an empty SEQUENCE
  return extension(OID.basicConstraints, true, ca ? sequence(boolean(true), ...(pathLength === undefined ? [] : [smallInteger(pathLength)])) : sequence());
}

/** KeyUsage bits: digitalSignature 0, keyCertSign 5, cRLSign 6. */
export const KEY_USAGE = { digitalSignature: 0, keyCertSign: 5, cRLSign: 6 } as const;

export function keyUsage(...bits: number[]): Buffer {
  if (bits.length === 0 || bits.some((b) => b < 0 || b > 7)) throw new RangeError('key usage bits must be 0..7');
  let byte = 0;
  for (const b of bits) byte |= 0x80 >> b;
  // a named bit list drops trailing zero bits: the unused count is what lies past the last set bit
  const unused = 7 - Math.max(...bits);
  return extension(OID.keyUsage, true, tlv(0x03, Buffer.from([unused, byte])));
}

export const extKeyUsageServerAuth = (): Buffer => extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID.serverAuth)));
/** subjectAltName of DNS names (dNSName is [2] IMPLICIT IA5String). */
export const subjectAltNameDns = (hosts: readonly string[]): Buffer => extension(OID.subjectAltName, false, sequence(...hosts.map((h) => implicitPrimitive(2, ascii(h)))));
export const subjectKeyIdentifier = (id: Uint8Array): Buffer => extension(OID.subjectKeyIdentifier, false, octetString(id));
/** authorityKeyIdentifier with only keyIdentifier ([0] IMPLICIT OCTET STRING). */
export const authorityKeyIdentifier = (id: Uint8Array): Buffer => extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, id)));

/** nameConstraints with permitted dNSName subtrees only ([0] IMPLICIT GeneralSubtrees; minimum 0 and no maximum, both left out). Critical, as RFC 5280 requires. */
export function nameConstraintsDns(permitted: readonly string[]): Buffer {
  return extension(OID.nameConstraints, true, sequence(tlv(0xa0, ...permitted.map((h) => sequence(implicitPrimitive(2, ascii(h)))))));
}

function ascii(s: string): Buffer {
  if (!/^[\x20-\x7e]+$/.test(s)) throw new RangeError(`not a printable ASCII name: ${JSON.stringify(s)}`);
  return Buffer.from(s, 'latin1');
}

const ECDSA_WITH_SHA256 = sequence(objectIdentifier(OID.ecdsaWithSha256)); // parameters absent (RFC 5758 3.2)

export interface TbsFields {
  /** Positive, big-endian, at most 20 bytes (RFC 5280 4.1.2.2). */
  serial: Uint8Array;
  issuer: Buffer;
  subject: Buffer;
  notBefore: number;
  notAfter: number;
  /** SubjectPublicKeyInfo, DER. */
  subjectPublicKeyInfo: Uint8Array;
  extensions: readonly Buffer[];
}

/** The to-be-signed part of a v3 certificate whose signature is ecdsa-with-SHA256. */
export function tbsCertificate(f: TbsFields): Buffer {
  if (f.serial.length === 0 || f.serial.length > 20 || ((f.serial[0] as number) & 0x80) !== 0) throw new RangeError('serial must be 1..20 bytes with the top bit clear');
  return sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(f.serial),
    ECDSA_WITH_SHA256,
    f.issuer,
    sequence(time(f.notBefore), time(f.notAfter)),
    f.subject,
    f.subjectPublicKeyInfo,
    explicit(3, sequence(...f.extensions)),
  );
}

/** The certificate: tbs, algorithm, and an ECDSA signature given as IEEE P1363 (r || s, as WebCrypto returns it). */
export function certificate(tbs: Buffer, p1363Signature: Uint8Array): Buffer {
  const half = p1363Signature.length / 2;
  if (!Number.isInteger(half) || half === 0) throw new RangeError('an ECDSA signature is r || s of equal length');
  const ecdsaSigValue = sequence(unsignedInteger(p1363Signature.subarray(0, half)), unsignedInteger(p1363Signature.subarray(half)));
  return sequence(tbs, ECDSA_WITH_SHA256, bitString(ecdsaSigValue));
}
