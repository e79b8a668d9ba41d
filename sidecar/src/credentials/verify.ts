// Verifies a JWT issued by Mayfly's broker, the way every receiver should and
// the way the sidecar checks each token the broker hands it before caching it.
// Only ES256; a header that names or carries its own key (jku, x5u, jwk, x5c)
// or asks for critical extensions is refused before any key is looked up; the
// key comes only from the configured JWKS by `kid`; iss, aud (exactly one),
// exp, nbf, iat, jti and sub are required.
import { createLocalJWKSet, createRemoteJWKSet, customFetch, decodeProtectedHeader, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { MAYFLY_CLAIM } from './broker-protocol.ts';
import { fetchWith, type HttpClientOptions } from './http.ts';

export type TokenErrorCode =
  | 'ERR_TOKEN_MALFORMED'
  | 'ERR_TOKEN_ALG'
  | 'ERR_TOKEN_HEADER'
  | 'ERR_TOKEN_KID'
  | 'ERR_TOKEN_SIGNATURE'
  | 'ERR_TOKEN_EXPIRED'
  | 'ERR_TOKEN_NOT_YET_VALID'
  | 'ERR_TOKEN_CLAIMS'
  | 'ERR_TOKEN_REVOKED';

export class TokenError extends Error {
  readonly code: TokenErrorCode;
  constructor(code: TokenErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TokenError';
    this.code = code;
  }
}

export interface MayflyTokenClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  namespace: string;
  serviceAccount: string;
  pod: { name: string; uid: string };
  policy: string;
}

export interface VerifyOptions {
  issuer: string;
  audience: string;
  /** The broker's JWKS: a key set, or a resolver such as `remoteJWKS(...)`. */
  keys: JSONWebKeySet | JWTVerifyGetKey;
  now?: () => number;
  clockToleranceSec?: number;
  /** Claims that must match exactly, e.g. the sidecar's own pod. */
  expect?: { podUID?: string; namespace?: string; serviceAccount?: string; policy?: string };
  /** A revocation check, e.g. "does this pod still exist with this uid". */
  stillValid?: (claims: MayflyTokenClaims) => Promise<boolean>;
}

const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'];
const SPIFFE = /^spiffe:\/\/([^/]+)\/ns\/([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/sa\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

/** A JWKS resolver that fetches `url` with the credential layer's HTTPS client (rate-limited refetch on an unknown kid). */
export function remoteJWKS(url: string, http: HttpClientOptions = {}): JWTVerifyGetKey {
  return createRemoteJWKSet(new URL(url), { [customFetch]: fetchWith(http), cooldownDuration: 30_000, cacheMaxAge: 300_000 });
}

function mapJoseError(err: unknown): TokenError {
  if (err instanceof TokenError) return err;
  if (err instanceof errors.JWTExpired) return new TokenError('ERR_TOKEN_EXPIRED', 'token expired', { cause: err });
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf' || err.claim === 'iat') return new TokenError('ERR_TOKEN_NOT_YET_VALID', 'token not yet valid', { cause: err });
    return new TokenError('ERR_TOKEN_CLAIMS', `token claim ${err.claim} rejected`, { cause: err });
  }
  if (err instanceof errors.JWKSNoMatchingKey) return new TokenError('ERR_TOKEN_KID', 'unknown key id', { cause: err });
  if (err instanceof errors.JWSSignatureVerificationFailed) return new TokenError('ERR_TOKEN_SIGNATURE', 'signature invalid', { cause: err });
  if (err instanceof errors.JOSEAlgNotAllowed) return new TokenError('ERR_TOKEN_ALG', 'algorithm not allowed', { cause: err });
  return new TokenError('ERR_TOKEN_MALFORMED', 'token malformed', { cause: err });
}

export async function verifyMayflyToken(token: string, opts: VerifyOptions): Promise<MayflyTokenClaims> {
  let header: ReturnType<typeof decodeProtectedHeader>;
  try {
    header = decodeProtectedHeader(token);
  } catch (err) {
    throw new TokenError('ERR_TOKEN_MALFORMED', 'token malformed', { cause: err });
  }
  if (header.alg !== 'ES256') throw new TokenError('ERR_TOKEN_ALG', 'algorithm not allowed');
  if (FORBIDDEN_HEADERS.some((h) => Object.hasOwn(header, h))) throw new TokenError('ERR_TOKEN_HEADER', 'header names its own key');
  if (typeof header.kid !== 'string' || header.kid === '') throw new TokenError('ERR_TOKEN_KID', 'token has no key id');

  const keys = typeof opts.keys === 'function' ? opts.keys : createLocalJWKSet(opts.keys);
  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      algorithms: ['ES256'],
      issuer: opts.issuer,
      audience: opts.audience,
      currentDate: new Date((opts.now ?? Date.now)()),
      clockTolerance: opts.clockToleranceSec ?? 5,
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti'],
    }));
  } catch (err) {
    throw mapJoseError(err);
  }
  if (typeof payload.aud !== 'string' && !(Array.isArray(payload.aud) && payload.aud.length === 1)) throw new TokenError('ERR_TOKEN_CLAIMS', 'token names more than one audience');
  const sub = SPIFFE.exec(payload.sub ?? '');
  const extra = payload[MAYFLY_CLAIM] as { pod?: { name?: unknown; uid?: unknown }; policy?: unknown } | undefined;
  if (!sub || typeof extra?.pod?.name !== 'string' || typeof extra.pod.uid !== 'string' || typeof extra.policy !== 'string' || typeof payload.jti !== 'string') {
    throw new TokenError('ERR_TOKEN_CLAIMS', 'token claims incomplete');
  }
  const claims: MayflyTokenClaims = {
    iss: payload.iss as string,
    sub: payload.sub as string,
    aud: opts.audience,
    iat: payload.iat as number,
    nbf: payload.nbf as number,
    exp: payload.exp as number,
    jti: payload.jti,
    namespace: sub[2] as string,
    serviceAccount: sub[4] as string,
    pod: { name: extra.pod.name, uid: extra.pod.uid },
    policy: extra.policy,
  };
  const e = opts.expect;
  if (e) {
    if (e.podUID !== undefined && e.podUID !== claims.pod.uid) throw new TokenError('ERR_TOKEN_CLAIMS', 'token of another pod');
    if (e.namespace !== undefined && e.namespace !== claims.namespace) throw new TokenError('ERR_TOKEN_CLAIMS', 'token of another namespace');
    if (e.serviceAccount !== undefined && e.serviceAccount !== claims.serviceAccount) throw new TokenError('ERR_TOKEN_CLAIMS', 'token of another service account');
    if (e.policy !== undefined && e.policy !== claims.policy) throw new TokenError('ERR_TOKEN_CLAIMS', 'token of another policy');
  }
  if (opts.stillValid && !(await opts.stillValid(claims))) throw new TokenError('ERR_TOKEN_REVOKED', 'token revoked');
  return claims;
}
