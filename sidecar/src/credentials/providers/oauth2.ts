// OAuth 2.0 providers over the RFC 6749 token endpoint:
// - oauth2TokenExchange: RFC 8693 with the pod's projected token as subject_token
//   (Keycloak, Okta, any STS that trusts the cluster's OIDC issuer);
// - oauth2ClientCredentials: client credentials with the projected token as an
//   RFC 7523 JWT client assertion (Entra ID workload identity federation).
// The protocol is two form fields and a JSON answer, so it is spoken directly
// over the credential layer's HTTPS client (per-provider caBundle, no redirects,
// bounded responses, no hidden retries: the cache owns backoff).
import type { CompiledPolicy } from '@mayfly/crds';
import { CredentialError, type Credential } from '../../contracts.ts';
import { decodeExpiry } from '../token-source.ts';
import { call, fingerprint, FORM, headerSafe, httpOptions, oauthFailure, parseJSON, seconds, type ProviderContext } from './common.ts';
import type { Provider } from './types.ts';

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** When a response omits expires_in (RFC 8693 makes it optional) and the token is opaque. */
const DEFAULT_LIFETIME_S = 300;

function lifetime(body: Record<string, unknown>, token: string, sent: number): number {
  if (body.expires_in !== undefined) return sent + seconds(body.expires_in, DEFAULT_LIFETIME_S) * 1000;
  try {
    return decodeExpiry(token);
  } catch {
    return sent + DEFAULT_LIFETIME_S * 1000;
  }
}

async function tokenRequest(ctx: ProviderContext, url: string, form: URLSearchParams, caBundle: string | undefined, what: string, signal?: AbortSignal): Promise<Credential> {
  const sent = ctx.now();
  const res = await call(url, { method: 'POST', headers: FORM, body: form.toString(), ...(signal ? { signal } : {}) }, httpOptions(ctx, caBundle), what);
  if (res.status !== 200) throw oauthFailure(res, what);
  const body = parseJSON(res, what);
  const value = headerSafe(body.access_token, what);
  if (typeof body.token_type === 'string' && !/^(bearer|n_a)$/i.test(body.token_type)) {
    throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `${what}: unsupported token_type`);
  }
  return { value, expiresAt: lifetime(body, value, sent), id: fingerprint(what, value) };
}

export function createTokenExchangeProvider(ctx: ProviderContext): Provider {
  return {
    async get(policy: CompiledPolicy, signal?: AbortSignal) {
      const p = policy.credential.provider;
      if (p.kind !== 'oauth2TokenExchange') throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'not an oauth2TokenExchange policy');
      const subject = await ctx.tokens.read(p.tokenAudience);
      const form = new URLSearchParams({ grant_type: TOKEN_EXCHANGE, subject_token: subject.value, subject_token_type: JWT, requested_token_type: ACCESS_TOKEN });
      if (p.audience) form.set('audience', p.audience);
      if (p.resource) form.set('resource', p.resource);
      if (p.scopes.length > 0) form.set('scope', p.scopes.join(' '));
      return tokenRequest(ctx, p.tokenURL, form, p.caBundle, 'oauth2TokenExchange', signal);
    },
  };
}

export function createClientCredentialsProvider(ctx: ProviderContext): Provider {
  return {
    async get(policy: CompiledPolicy, signal?: AbortSignal) {
      const p = policy.credential.provider;
      if (p.kind !== 'oauth2ClientCredentials') throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'not an oauth2ClientCredentials policy');
      const assertion = await ctx.tokens.read(p.tokenAudience);
      const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: p.clientID, client_assertion_type: JWT_BEARER, client_assertion: assertion.value });
      if (p.scopes.length > 0) form.set('scope', p.scopes.join(' '));
      return tokenRequest(ctx, p.tokenURL, form, p.caBundle, 'oauth2ClientCredentials', signal);
    },
  };
}
