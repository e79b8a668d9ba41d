// The built-in broker, over its RFC 8693 endpoint on the controller
// (broker-protocol.ts): the `broker` provider gets a JWT, which is verified
// against the broker's JWKS and must be for this pod and policy before it is
// used; the `secretRef` provider gets the Secret's value as a lease.
import type { CompiledPolicy } from '@mayfly/crds';
import type { JWTVerifyGetKey } from 'jose';
import { CredentialError, type Credential } from '../../contracts.ts';
import { JWKS_PATH, JWT_TOKEN_TYPE, SECRET_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, TOKEN_PATH, policyResource } from '../broker-protocol.ts';
import { remoteJWKS, TokenError, verifyMayflyToken } from '../verify.ts';
import { call, fingerprint, FORM, headerSafe, httpOptions, oauthFailure, parseJSON, seconds, type ProviderContext } from './common.ts';
import type { Provider } from './types.ts';

export interface BrokerClientOptions {
  /** Base URL of the controller's broker, e.g. https://mayfly-controller.mayfly-system.svc:8443 */
  brokerURL: string;
  /** The `iss` of its tokens; default brokerURL. */
  issuer?: string;
  /** CA of the controller's serving certificate. */
  brokerCA?: string;
  /** Audience of the projected token presented to the broker. Default "mayfly". */
  audience?: string;
}

export function createBrokerProvider(ctx: ProviderContext, opts: BrokerClientOptions): Provider {
  const base = opts.brokerURL.replace(/\/+$/, '');
  const http = { ...httpOptions(ctx), ...(opts.brokerCA ? { ca: [ctx.extraCA, opts.brokerCA].filter(Boolean).join('\n') } : {}) };
  let jwks: JWTVerifyGetKey | undefined;

  return {
    async get(policy: CompiledPolicy, signal?: AbortSignal): Promise<Credential> {
      const provider = policy.credential.provider;
      if (provider.kind !== 'broker' && provider.kind !== 'secretRef') throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'not a broker policy');
      const subject = await ctx.tokens.read(opts.audience ?? 'mayfly');
      const form = new URLSearchParams({
        grant_type: TOKEN_EXCHANGE_GRANT,
        subject_token: subject.value,
        subject_token_type: JWT_TOKEN_TYPE,
        resource: policyResource(policy.id),
        requested_token_type: provider.kind === 'broker' ? JWT_TOKEN_TYPE : SECRET_TOKEN_TYPE,
        ...(provider.kind === 'broker' ? { audience: provider.audience } : {}),
      });
      const sent = ctx.now();
      const res = await call(`${base}${TOKEN_PATH}`, { method: 'POST', headers: FORM, body: form.toString(), ...(signal ? { signal } : {}) }, http, 'broker');
      if (res.status !== 200) throw oauthFailure(res, 'broker');
      const body = parseJSON(res, 'broker');
      const value = headerSafe(body.access_token, 'broker');
      const expiresIn = seconds(body.expires_in, 0);
      if (expiresIn === 0) throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'broker: response has no expires_in');
      const leaseEnd = sent + expiresIn * 1000;

      if (provider.kind === 'secretRef') {
        if (body.issued_token_type !== SECRET_TOKEN_TYPE) throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'broker: unexpected issued_token_type');
        return { value, expiresAt: leaseEnd, id: fingerprint(`secret:${policy.id}`, value) };
      }
      if (body.issued_token_type !== JWT_TOKEN_TYPE) throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'broker: unexpected issued_token_type');
      jwks ??= remoteJWKS(`${base}${JWKS_PATH}`, http);
      try {
        const claims = await verifyMayflyToken(value, {
          issuer: opts.issuer ?? base,
          audience: provider.audience,
          keys: jwks,
          now: ctx.now,
          expect: { podUID: ctx.identity.uid, namespace: ctx.identity.namespace, serviceAccount: ctx.identity.serviceAccount, policy: policy.id },
        });
        return { value, expiresAt: Math.min(claims.exp * 1000, leaseEnd), id: claims.jti };
      } catch (err) {
        // A token that does not verify is never used or cached.
        throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `broker: issued token rejected (${err instanceof TokenError ? `${err.code}: ${err.message}` : 'error'})`, { cause: err });
      }
    },
  };
}
