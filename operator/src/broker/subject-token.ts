// Cheap structural checks of a subject token before it is sent to the API
// server: a token that asks to be verified with a key it carries or points to,
// or with no signature, or with a symmetric algorithm, is refused outright.
// The API server's TokenReview remains the authority on everything else.

/** Algorithms the API server signs service-account tokens with. */
const ASYMMETRIC = new Set(['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA']);
/** Header parameters that make a verifier fetch or trust a key chosen by the sender. */
const FORBIDDEN_HEADERS = ['jku', 'x5u', 'jwk', 'x5c', 'crit'];
export const MAX_TOKEN_LENGTH = 16_384;

export type SubjectTokenProblem = 'ERR_TOKEN_MALFORMED' | 'ERR_TOKEN_ALG' | 'ERR_TOKEN_HEADER';

/** null when the token may be reviewed; otherwise why not. */
export function subjectTokenProblem(token: string): SubjectTokenProblem | null {
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) return 'ERR_TOKEN_MALFORMED';
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) return 'ERR_TOKEN_MALFORMED';
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(parts[0] as string, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return 'ERR_TOKEN_MALFORMED';
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) return 'ERR_TOKEN_MALFORMED';
  if (typeof header.alg !== 'string' || !ASYMMETRIC.has(header.alg)) return 'ERR_TOKEN_ALG';
  if (FORBIDDEN_HEADERS.some((h) => Object.hasOwn(header, h))) return 'ERR_TOKEN_HEADER';
  return null;
}

/** The `exp` of a token the API server has accepted, in epoch ms. */
export function subjectTokenExpiry(token: string): number | null {
  try {
    const exp = (JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : null;
  } catch {
    return null;
  }
}
