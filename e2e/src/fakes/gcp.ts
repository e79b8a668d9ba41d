// A fake of Google workload identity federation: the Security Token Service
// (POST /v1/token, RFC 8693 form parameters, response { access_token,
// issued_token_type, token_type, expires_in }, OAuth errors { error,
// error_description }) and IAM Credentials generateAccessToken
// (POST /v1/projects/-/serviceAccounts/{email}:generateAccessToken with the
// federated token as Bearer, JSON { scope, lifetime }, response { accessToken,
// expireTime } with expireTime an RFC 3339 timestamp of the server's clock;
// errors in Google's JSON error shape { error: { code, message, status } },
// including 429 RESOURCE_EXHAUSTED). Both live on one server here.
import { randomBytes } from 'node:crypto';
import type { ClusterIssuer } from './identity-provider.ts';
import { json, startFakeServer, type FakeServer } from './server.ts';

export interface FakeGcp extends FakeServer {
  /** The workload identity provider name the STS accepts as audience. */
  provider: string;
  /** Service accounts the federated principal may impersonate. */
  serviceAccounts: Set<string>;
  throttle: number;
  /** Federated tokens the STS issued (they authorise generateAccessToken). */
  federated: Set<string>;
  issued: { email: string; scope: string[]; lifetime: string; token: string }[];
}

const googleError = (code: number, status: string, message: string) => json(code, { error: { code, message, status } });

export async function startFakeGcp(issuer: ClusterIssuer, provider: string): Promise<FakeGcp> {
  const server = await startFakeServer(async (req, srv) => {
    const g = srv as FakeGcp;
    if (g.throttle > 0) {
      g.throttle -= 1;
      return googleError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded');
    }
    if (req.method === 'POST' && req.url.pathname === '/v1/token') {
      const f = req.form;
      if (!f) return json(400, { error: 'invalid_request', error_description: 'Invalid content type' });
      if (f.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:token-exchange') return json(400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type' });
      if (f.get('requested_token_type') !== 'urn:ietf:params:oauth:token-type:access_token') return json(400, { error: 'invalid_request', error_description: 'Invalid requested_token_type' });
      if (f.get('subject_token_type') !== 'urn:ietf:params:oauth:token-type:jwt') return json(400, { error: 'invalid_request', error_description: 'Invalid subject_token_type' });
      if (f.get('audience') !== g.provider) return json(400, { error: 'invalid_target', error_description: 'The target service indicated by the "audience" parameters is invalid.' });
      try {
        await issuer.verify(f.get('subject_token') ?? '', g.provider, srv.now());
      } catch {
        return json(400, { error: 'invalid_grant', error_description: 'The audience in ID Token does not match the expected audience.' });
      }
      const token = `fed_${randomBytes(24).toString('base64url')}`;
      g.federated.add(token);
      return json(200, { access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 3600 });
    }
    const m = /^\/v1\/projects\/-\/serviceAccounts\/([^/:]+):generateAccessToken$/.exec(req.url.pathname);
    if (req.method === 'POST' && m) {
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      if (!bearer || !g.federated.has(bearer)) return googleError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.');
      const email = decodeURIComponent(m[1] as string);
      if (!g.serviceAccounts.has(email)) return googleError(403, 'PERMISSION_DENIED', "Permission 'iam.serviceAccounts.getAccessToken' denied on resource (or it may not exist).");
      const body = req.json as { scope?: unknown; lifetime?: unknown } | undefined;
      if (!Array.isArray(body?.scope) || body.scope.length === 0) return googleError(400, 'INVALID_ARGUMENT', 'Scope required.');
      const lifetime = typeof body.lifetime === 'string' ? body.lifetime : '3600s';
      const seconds = Number(/^(\d+)s$/.exec(lifetime)?.[1] ?? NaN);
      if (!(seconds > 0 && seconds <= 3600)) return googleError(400, 'INVALID_ARGUMENT', 'The lifetime is out of range.');
      const token = `ya29.${randomBytes(32).toString('base64url')}`;
      g.issued.push({ email, scope: body.scope as string[], lifetime, token });
      return json(200, { accessToken: token, expireTime: new Date(srv.now() + seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') });
    }
    return googleError(404, 'NOT_FOUND', 'Not found');
  });
  return Object.assign(server, { provider, serviceAccounts: new Set<string>(), throttle: 0, federated: new Set<string>(), issued: [] as FakeGcp['issued'] });
}
