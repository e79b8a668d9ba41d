// The wire contract between the sidecar and the controller's built-in broker,
// an RFC 8693 token exchange at `POST /v1/token` (form-encoded):
//
//   grant_type=urn:ietf:params:oauth:grant-type:token-exchange
//   subject_token=<the pod's projected token for audience "mayfly">
//   subject_token_type=urn:ietf:params:oauth:token-type:jwt
//   resource=urn:mayfly:policy:<namespace>/<name>      (the WorkloadPolicy)
//   audience=<destination audience>                     (broker provider only)
//   requested_token_type=<JWT_TOKEN_TYPE | SECRET_TOKEN_TYPE>
//
// A broker policy answers with a JWT (issued_token_type JWT_TOKEN_TYPE,
// token_type "Bearer"). A secretRef policy answers with the Secret's value as
// access_token, issued_token_type SECRET_TOKEN_TYPE and token_type "N_A"
// (RFC 8693 section 2.2.1: not an OAuth access token), and an expires_in that
// is a lease: the sidecar must ask again by then, so a revoked pod or policy
// loses the key within one lease. Errors are RFC 6749 section 5.2 JSON bodies.

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const JWT_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
export const SECRET_TOKEN_TYPE = 'urn:mayfly:params:oauth:token-type:secret';
export const POLICY_RESOURCE_PREFIX = 'urn:mayfly:policy:';

export const TOKEN_PATH = '/v1/token';
export const JWKS_PATH = '/.well-known/jwks.json';
export const DISCOVERY_PATH = '/.well-known/openid-configuration';

/** The resource URI naming a policy ("ns/name"). */
export function policyResource(policyID: string): string {
  return `${POLICY_RESOURCE_PREFIX}${policyID}`;
}

/** The policy id in a resource URI, or null when it is not one. */
export function policyFromResource(resource: string): string | null {
  if (!resource.startsWith(POLICY_RESOURCE_PREFIX)) return null;
  const id = resource.slice(POLICY_RESOURCE_PREFIX.length);
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(id) ? id : null;
}

/**
 * The private claim of a broker JWT: `{ "pod": { "name", "uid" }, "policy": "ns/name" }`.
 * The other claims are iss, sub (spiffe://<trust domain>/ns/<ns>/sa/<sa>), aud
 * (exactly one audience), iat, nbf, exp and jti; the header is
 * `{ "alg": "ES256", "kid", "typ": "JWT" }`.
 */
export const MAYFLY_CLAIM = 'mayfly.dev';
