// The identity side of the fakes: an RS256 issuer that mints tokens shaped like
// Kubernetes projected service-account tokens (what an external STS receives as
// a subject token or client assertion), and the check each fake makes of them,
// the way AWS, Entra ID, Google and Vault check a federated token against the
// cluster's OIDC discovery keys.
import { createLocalJWKSet, generateKeyPair, jwtVerify, SignJWT, exportJWK, type CryptoKey, type JSONWebKeySet, type JWTPayload } from 'jose';

export const CLUSTER_ISSUER = 'https://oidc.cluster.example';

export interface ClusterIssuer {
  mint(opts: { audience: string; namespace?: string; serviceAccount?: string; pod?: string; uid?: string; ttlSeconds?: number; issuedSecondsAgo?: number }): Promise<string>;
  /** Verifies a token the way a federating STS does; throws on any problem. */
  verify(token: string, audience: string, now?: number): Promise<JWTPayload>;
  jwks(): Promise<{ keys: object[] }>;
}

export async function createClusterIssuer(): Promise<ClusterIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    mint(o) {
      const now = Math.floor(Date.now() / 1000) - (o.issuedSecondsAgo ?? 0);
      const ns = o.namespace ?? 'payments';
      const sa = o.serviceAccount ?? 'payments-api';
      return new SignJWT({ 'kubernetes.io': { namespace: ns, serviceaccount: { name: sa }, pod: { name: o.pod ?? 'api-1', uid: o.uid ?? 'uid-1' } } })
        .setProtectedHeader({ alg: 'RS256', kid: 'cluster' })
        .setIssuer(CLUSTER_ISSUER)
        .setSubject(`system:serviceaccount:${ns}:${sa}`)
        .setAudience(o.audience)
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + (o.ttlSeconds ?? 3600))
        .sign(privateKey as CryptoKey);
    },
    async verify(token, audience, now) {
      const { payload } = await jwtVerify(token, publicKey, { issuer: CLUSTER_ISSUER, audience, algorithms: ['RS256'], ...(now !== undefined ? { currentDate: new Date(now) } : {}) });
      return payload;
    },
    async jwks() {
      return { keys: [{ ...(await exportJWK(publicKey)), kid: 'cluster', alg: 'RS256', use: 'sig' }] };
    },
  };
}

/**
 * A real cluster as the identity provider: tokens come from the API server's
 * TokenRequest, and a fake checks them against the API server's own OIDC
 * discovery keys (/openid/v1/jwks), as AWS, Google or Vault check a cluster
 * registered with them.
 */
export async function apiServerIssuer(discovery: { issuer: string; jwks: JSONWebKeySet }): Promise<ClusterIssuer> {
  const keys = createLocalJWKSet(discovery.jwks);
  return {
    mint() {
      return Promise.reject(new Error('tokens of a real cluster come from TokenRequest'));
    },
    async verify(token, audience, now) {
      const { payload } = await jwtVerify(token, keys, { issuer: discovery.issuer, audience, algorithms: ['RS256', 'ES256'], ...(now !== undefined ? { currentDate: new Date(now) } : {}) });
      return payload;
    },
    jwks: () => Promise.resolve(discovery.jwks as { keys: object[] }),
  };
}
