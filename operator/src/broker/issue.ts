// Mints the broker's JWT: ES256, one audience, a SPIFFE-style subject, the pod
// and the policy, a jti, and a lifetime that never outlives the policy, the
// subject token or the key retention bound.
import { randomUUID } from 'node:crypto';
import { MAYFLY_CLAIM } from '@mayfly/sidecar/credentials/broker-protocol';
import { SignJWT } from 'jose';
import type { ImportedKey } from './keys.ts';

export { MAYFLY_CLAIM };

export interface IssueInput {
  issuer: string;
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUID: string;
  policyID: string;
  audience: string;
  now: number;
  /** Epoch ms; already capped by the caller. */
  expiresAt: number;
}

export interface IssuedToken {
  token: string;
  jti: string;
  kid: string;
  iat: number;
  exp: number;
}

export function spiffeID(trustDomain: string, namespace: string, serviceAccount: string): string {
  return `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
}

export async function issueToken(key: ImportedKey, input: IssueInput): Promise<IssuedToken> {
  const jti = randomUUID();
  const iat = Math.floor(input.now / 1000);
  const exp = Math.floor(input.expiresAt / 1000);
  const token = await new SignJWT({ [MAYFLY_CLAIM]: { pod: { name: input.podName, uid: input.podUID }, policy: input.policyID } })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
    .setIssuer(input.issuer)
    .setSubject(spiffeID(input.trustDomain, input.namespace, input.serviceAccount))
    .setAudience(input.audience)
    .setIssuedAt(iat)
    .setNotBefore(iat)
    .setExpirationTime(exp)
    .setJti(jti)
    .sign(key.key);
  return { token, jti, kid: key.kid, iat, exp };
}
