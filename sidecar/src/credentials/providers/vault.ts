// A secret from HashiCorp Vault over its HTTP API: log in with the projected
// token (JWT or Kubernetes auth: POST /v1/auth/<authPath>/login { role, jwt }),
// then read `secretPath` (KV v2 `data.data`, or a dynamic secret with a lease).
// A refresh of a dynamic secret renews its lease while Vault allows; when the
// lease cannot be extended a new secret is read. A released credential's lease
// is revoked, and close() revokes every lease and token this provider holds.
import type { CompiledPolicy } from '@mayfly/crds';
import { CredentialError, type Credential } from '../../contracts.ts';
import type { HttpResponse } from '../http.ts';
import { call, headerSafe, httpOptions, parseJSON, seconds, type ProviderContext } from './common.ts';
import type { Provider } from './types.ts';

/** How long a KV value (which has no lease) is used before it is read again. */
const KV_REFRESH_S = 300;

interface Session {
  token: string;
  expiresAt: number;
  address: string;
  caBundle: string | undefined;
}

interface Held {
  scope: string;
  address: string;
  caBundle: string | undefined;
  session: Session;
  leaseID: string | null;
  leaseSeconds: number;
  value: string;
}

function vaultFailure(res: HttpResponse, what: string): CredentialError {
  if (res.status === 400 || res.status === 401 || res.status === 403) return new CredentialError('ERR_CREDENTIAL_DENIED', `vault ${what}: http ${res.status}`);
  return new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `vault ${what}: http ${res.status}`);
}

export function createVaultProvider(ctx: ProviderContext): Provider {
  const sessions = new Map<string, Session>();
  /** Credentials handed out, by id, for renewal and revocation. */
  const held = new Map<string, Held>();
  /** The newest credential of each policy scope: the one a refresh renews. */
  const latest = new Map<string, string>();

  const base = (address: string) => address.replace(/\/+$/, '');

  async function login(p: Extract<CompiledPolicy['credential']['provider'], { kind: 'vault' }>, key: string, signal?: AbortSignal): Promise<Session> {
    const existing = sessions.get(key);
    if (existing && existing.expiresAt - 60_000 > ctx.now()) return existing;
    const jwt = await ctx.tokens.read(p.tokenAudience);
    const sent = ctx.now();
    const res = await call(`${base(p.address)}/v1/auth/${p.authPath}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ role: p.role, jwt: jwt.value }), ...(signal ? { signal } : {}) }, httpOptions(ctx, p.caBundle), 'vault login');
    if (res.status !== 200) throw vaultFailure(res, 'login');
    const auth = parseJSON(res, 'vault login').auth as { client_token?: unknown; lease_duration?: unknown } | undefined;
    const session = { token: headerSafe(auth?.client_token, 'vault login'), expiresAt: sent + seconds(auth?.lease_duration, 3600) * 1000, address: p.address, caBundle: p.caBundle };
    sessions.set(key, session);
    return session;
  }

  async function renew(h: Held, signal?: AbortSignal): Promise<number | null> {
    if (!h.leaseID || h.session.expiresAt - 60_000 <= ctx.now()) return null;
    const sent = ctx.now();
    const res = await call(`${base(h.address)}/v1/sys/leases/renew`, { method: 'PUT', headers: { 'x-vault-token': h.session.token, 'content-type': 'application/json' }, body: JSON.stringify({ lease_id: h.leaseID, increment: h.leaseSeconds }), ...(signal ? { signal } : {}) }, httpOptions(ctx, h.caBundle), 'vault renew');
    if (res.status !== 200) return null;
    const granted = seconds(parseJSON(res, 'vault renew').lease_duration, 0);
    // Vault caps renewals at the lease's max TTL; a lease that no longer grows is replaced.
    if (granted * 3 < h.leaseSeconds) return null;
    return sent + granted * 1000;
  }

  async function revoke(h: Held): Promise<void> {
    if (!h.leaseID) return;
    await call(`${base(h.address)}/v1/sys/leases/revoke`, { method: 'PUT', headers: { 'x-vault-token': h.session.token, 'content-type': 'application/json' }, body: JSON.stringify({ lease_id: h.leaseID }) }, httpOptions(ctx, h.caBundle), 'vault revoke');
  }

  return {
    async get(policy: CompiledPolicy, signal?: AbortSignal): Promise<Credential> {
      const p = policy.credential.provider;
      if (p.kind !== 'vault') throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'not a vault policy');
      const scope = policy.credential.scope;
      const current = held.get(latest.get(scope) ?? '');
      if (current) {
        const until = await renew(current, signal);
        if (until !== null) return { value: current.value, expiresAt: Math.min(until, current.session.expiresAt), id: current.leaseID as string };
      }
      const session = await login(p, `${p.address}|${p.authPath}|${p.role}|${p.tokenAudience}`, signal);
      const sent = ctx.now();
      const res = await call(`${base(p.address)}/v1/${p.secretPath}`, { method: 'GET', headers: { 'x-vault-token': session.token }, ...(signal ? { signal } : {}) }, httpOptions(ctx, p.caBundle), 'vault read');
      if (res.status !== 200) throw vaultFailure(res, 'read');
      const body = parseJSON(res, 'vault read');
      const data = body.data as { data?: Record<string, unknown>; metadata?: unknown } | Record<string, unknown> | undefined;
      const kv = data && typeof data.data === 'object' && data.data !== null && 'metadata' in data;
      const fields = ((kv ? (data as { data: Record<string, unknown> }).data : data) ?? {}) as Record<string, unknown>;
      const value = headerSafe(fields[p.field], `vault field ${p.field}`);
      const leaseID = typeof body.lease_id === 'string' && body.lease_id !== '' ? body.lease_id : null;
      const leaseSeconds = seconds(body.lease_duration, 0);
      const expiresAt = Math.min(session.expiresAt, leaseID ? sent + leaseSeconds * 1000 : sent + KV_REFRESH_S * 1000);
      const id = leaseID ?? `vault:${p.secretPath}:${sent}`;
      held.set(id, { scope, address: p.address, caBundle: p.caBundle, session, leaseID, leaseSeconds, value });
      latest.set(scope, id);
      return { value, expiresAt, id };
    },

    async release(credential: Credential): Promise<void> {
      const h = held.get(credential.id);
      if (!h) return;
      held.delete(credential.id);
      if (latest.get(h.scope) === credential.id) latest.delete(h.scope);
      await revoke(h);
    },

    async close(): Promise<void> {
      const all = [...held.values()];
      held.clear();
      latest.clear();
      await Promise.allSettled(all.map(revoke));
      const tokens = [...new Set([...sessions.values(), ...all.map((h) => h.session)])];
      sessions.clear();
      await Promise.allSettled(tokens.map((s) => call(`${base(s.address)}/v1/auth/token/revoke-self`, { method: 'POST', headers: { 'x-vault-token': s.token } }, httpOptions(ctx, s.caBundle), 'vault revoke-self')));
    },
  };
}
