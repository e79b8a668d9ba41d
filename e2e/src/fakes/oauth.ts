// A fake OAuth 2.0 authorization server token endpoint speaking RFC 6749,
// RFC 8693 (token exchange) and RFC 7523 (JWT client assertions), in the shape
// Keycloak, Okta and Entra ID answer: form-encoded POST, JSON responses
// { access_token, issued_token_type, token_type, expires_in }, errors as
// { error, error_description } with 400 (invalid_request, invalid_grant,
// unsupported_grant_type, invalid_scope, invalid_target) or 401
// (invalid_client), and 429 with Retry-After when throttled.
import { randomBytes } from 'node:crypto';
import type { ClusterIssuer } from './identity-provider.ts';
import { json, startFakeServer, type FakeServer } from './server.ts';

export interface FakeOAuth extends FakeServer {
  /** Answer the next N requests with 429. */
  throttle: number;
  /** Lifetime of issued tokens. */
  expiresIn: number;
  /** Client ids allowed to use client credentials. */
  clients: Set<string>;
  /** Audiences allowed in token exchange. */
  audiences: Set<string>;
  issued: { token: string; grant: string; subject: string; scope: string | null; audience: string | null; resource: string | null }[];
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export async function startFakeOAuth(issuer: ClusterIssuer, opts: { subjectAudience?: string; assertionAudience?: string } = {}): Promise<FakeOAuth> {
  const oauthError = (status: number, error: string, description: string) => json(status, { error, error_description: description }, { 'cache-control': 'no-store' });
  const server = await startFakeServer(async (req, srv) => {
    const as = srv as FakeOAuth;
    if (req.method !== 'POST' || req.url.pathname !== '/oauth2/token') return json(404, { error: 'not_found' });
    if (!req.form) return oauthError(400, 'invalid_request', 'content type must be application/x-www-form-urlencoded');
    if (as.throttle > 0) {
      as.throttle -= 1;
      return json(429, { error: 'temporarily_unavailable', error_description: 'too many requests' }, { 'retry-after': '1' });
    }
    const f = req.form;
    const grant = f.get('grant_type');
    const scope = f.get('scope');
    const issue = (subject: string, audience: string | null, resource: string | null) => {
      const token = `at_${randomBytes(24).toString('base64url')}`;
      as.issued.push({ token, grant: grant ?? '', subject, scope, audience, resource });
      return json(200, { access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: as.expiresIn, ...(scope ? { scope } : {}) }, { 'cache-control': 'no-store' });
    };
    if (grant === TOKEN_EXCHANGE) {
      if (f.get('subject_token_type') !== 'urn:ietf:params:oauth:token-type:jwt') return oauthError(400, 'invalid_request', 'unsupported subject_token_type');
      const audience = f.get('audience');
      if (audience !== null && !as.audiences.has(audience)) return oauthError(400, 'invalid_target', 'audience not allowed');
      try {
        const payload = await issuer.verify(f.get('subject_token') ?? '', opts.subjectAudience ?? 'mayfly-sts', srv.now());
        return issue(payload.sub ?? '', audience, f.get('resource'));
      } catch {
        return oauthError(400, 'invalid_grant', 'subject token invalid');
      }
    }
    if (grant === 'client_credentials') {
      if (f.get('client_assertion_type') !== JWT_BEARER || !f.get('client_assertion')) return oauthError(401, 'invalid_client', 'client assertion required');
      const clientID = f.get('client_id') ?? '';
      if (!as.clients.has(clientID)) return oauthError(401, 'invalid_client', 'unknown client');
      try {
        const payload = await issuer.verify(f.get('client_assertion') ?? '', opts.assertionAudience ?? 'api://AzureADTokenExchange', srv.now());
        return issue(payload.sub ?? '', null, null);
      } catch {
        return oauthError(401, 'invalid_client', 'AADSTS700024: Client assertion is not within its valid time range.');
      }
    }
    return oauthError(400, 'unsupported_grant_type', `grant type ${grant} is not supported`);
  });
  return Object.assign(server, { throttle: 0, expiresIn: 3600, clients: new Set<string>(), audiences: new Set<string>(), issued: [] as FakeOAuth['issued'] });
}
