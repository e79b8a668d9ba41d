// A Google access token by workload identity federation: the projected token
// is exchanged at Google's Security Token Service (RFC 8693, form-encoded) for
// a federated token, which then impersonates a service account through IAM
// Credentials generateAccessToken. These are the two documented REST calls the
// official google-auth-library makes for an "external_account" credential; they
// are spoken directly because that library reads its configuration and token
// from files and brings its own HTTP stack, while this layer needs the token
// source, the shared HTTPS client and skew-corrected expiry.
import type { CompiledPolicy } from '@mayfly/crds';
import { CredentialError, type Credential } from '../../contracts.ts';
import { call, FORM, headerSafe, httpOptions, oauthFailure, parseJSON, skewCorrected, type ProviderContext } from './common.ts';
import type { Provider } from './types.ts';

const STS = 'https://sts.googleapis.com';
const IAM_CREDENTIALS = 'https://iamcredentials.googleapis.com';

/** Google's JSON errors ({ error: { code, status } }) to credential errors. */
function googleFailure(status: number, body: string): CredentialError {
  let code = '';
  try {
    const s = (JSON.parse(body) as { error?: { status?: unknown } }).error?.status;
    if (typeof s === 'string' && /^[A-Z_]{1,64}$/.test(s)) code = s;
  } catch {
    // not JSON
  }
  if (status === 401 || status === 403 || code === 'PERMISSION_DENIED' || code === 'UNAUTHENTICATED') return new CredentialError('ERR_CREDENTIAL_DENIED', `gcp iam credentials: ${code || status}`);
  return new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `gcp iam credentials: ${code || `http ${status}`}`);
}

export function createGcpProvider(ctx: ProviderContext, opts: { lifetimeSeconds?: number } = {}): Provider {
  return {
    async get(policy: CompiledPolicy, signal?: AbortSignal): Promise<Credential> {
      const p = policy.credential.provider;
      if (p.kind !== 'gcp') throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'not a gcp policy');
      const http = httpOptions(ctx);
      const subject = await ctx.tokens.read(p.tokenAudience);
      const form = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        audience: p.audience,
        scope: 'https://www.googleapis.com/auth/cloud-platform',
        requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        subject_token: subject.value,
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      });
      const sts = await call(`${(p.stsEndpoint ?? STS).replace(/\/+$/, '')}/v1/token`, { method: 'POST', headers: FORM, body: form.toString(), ...(signal ? { signal } : {}) }, http, 'gcp sts');
      if (sts.status !== 200) throw oauthFailure(sts, 'gcp sts');
      const federated = headerSafe(parseJSON(sts, 'gcp sts').access_token, 'gcp sts');

      const url = `${(p.iamCredentialsEndpoint ?? IAM_CREDENTIALS).replace(/\/+$/, '')}/v1/projects/-/serviceAccounts/${encodeURIComponent(p.serviceAccount)}:generateAccessToken`;
      const res = await call(
        url,
        { method: 'POST', headers: { authorization: `Bearer ${federated}`, 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify({ scope: p.scopes, lifetime: `${opts.lifetimeSeconds ?? 3600}s` }), ...(signal ? { signal } : {}) },
        http,
        'gcp iam credentials',
      );
      if (res.status !== 200) throw googleFailure(res.status, res.body);
      const body = parseJSON(res, 'gcp iam credentials');
      const value = headerSafe(body.accessToken, 'gcp iam credentials');
      const expire = typeof body.expireTime === 'string' ? Date.parse(body.expireTime) : NaN;
      if (!Number.isFinite(expire)) throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'gcp iam credentials: no expireTime');
      return { value, expiresAt: skewCorrected(expire, res.date, ctx.now()), id: `gcp:${p.serviceAccount}:${value.slice(-8)}` };
    },
  };
}
