// Hand-built JWTs for attack cases a well-behaved library refuses to produce.
import { createHmac } from 'node:crypto';

const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** header.payload with an arbitrary signature segment. */
export function rawJwt(header: Record<string, unknown>, payload: Record<string, unknown>, signature = 'c2lnbmF0dXJl'): string {
  return `${b64(header)}.${b64(payload)}.${signature}`;
}

/** The classic key-confusion forgery: HS256 with the issuer's public key as the HMAC secret. */
export function hmacWithPublicKey(header: Record<string, unknown>, payload: Record<string, unknown>, publicKeyText: string): string {
  const input = `${b64({ ...header, alg: 'HS256' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', publicKeyText).update(input).digest('base64url')}`;
}
