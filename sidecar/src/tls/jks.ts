// Encodes a Java KeyStore (JKS) holding only trusted certificates: the format
// every JVM reads as a trust store (javax.net.ssl.trustStore), with no key in
// it. Pure. Layout per sun.security.provider.JavaKeyStore: magic, version,
// count, entries (tag 2 = trusted certificate), then a SHA-1 integrity digest
// over the password (UTF-16BE), the string "Mighty Aphrodite" and the body.
import { createHash, X509Certificate } from 'node:crypto';

function utf(s: string): Buffer {
  const body = Buffer.from(s, 'utf8');
  const len = Buffer.alloc(2);
  len.writeUInt16BE(body.length);
  return Buffer.concat([len, body]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/** A JKS trust store of `certs` (PEM, one certificate each), aliased by the given names. */
export function encodeJks(entries: ReadonlyArray<{ alias: string; pem: string }>, password: string, timestamp: number): Buffer {
  const parts: Buffer[] = [u32(0xfeedfeed), u32(2), u32(entries.length)];
  const seen = new Set<string>();
  for (const e of entries) {
    const alias = e.alias.toLowerCase();
    if (seen.has(alias)) throw new Error(`duplicate alias ${alias}`);
    seen.add(alias);
    const der = new X509Certificate(e.pem).raw;
    const ts = Buffer.alloc(8);
    ts.writeBigUInt64BE(BigInt(timestamp));
    parts.push(u32(2), utf(alias), ts, utf('X.509'), u32(der.length), der);
  }
  const body = Buffer.concat(parts);
  const digest = createHash('sha1').update(Buffer.from(password, 'utf16le').swap16()).update('Mighty Aphrodite', 'utf8').update(body).digest();
  return Buffer.concat([body, digest]);
}

/** Splits a PEM bundle into single certificates. */
export function splitPem(bundle: string): string[] {
  return bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g)?.map((c) => `${c}\n`) ?? [];
}
