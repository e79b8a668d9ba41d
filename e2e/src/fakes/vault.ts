// A fake of HashiCorp Vault's HTTP API, the parts a workload uses:
//   POST /v1/auth/<mount>/login { role, jwt }        -> { auth: { client_token, accessor, policies, lease_duration, renewable } }
//   GET  /v1/<kv mount>/data/<path>  (KV v2)         -> { data: { data: {...}, metadata: {...} }, lease_duration: 0 }
//   GET  /v1/<mount>/creds/<role>    (dynamic)       -> { lease_id, lease_duration, renewable, data: {...} }
//   PUT  /v1/sys/leases/renew { lease_id, increment } -> { lease_id, lease_duration, renewable }
//   PUT  /v1/sys/leases/revoke { lease_id }          -> 204
//   POST /v1/auth/token/revoke-self                  -> 204
// with X-Vault-Token authentication and errors as { errors: [...] }: 400 for a
// bad login, 403 "permission denied", 429 for rate-limit quotas, 503 while sealed.
import { randomBytes, randomUUID } from 'node:crypto';
import type { ClusterIssuer } from './identity-provider.ts';
import { json, startFakeServer, type FakeResponse, type FakeServer } from './server.ts';

export interface FakeVault extends FakeServer {
  /** role name -> audience the role's bound_audiences requires. */
  roles: Map<string, { audience: string; ttl: number }>;
  /** KV v2 secrets: "secret/data/stripe" -> data. */
  kv: Map<string, Record<string, string>>;
  /** Dynamic secret endpoints: "database/creds/readonly" -> lease seconds and max ttl. */
  dynamic: Map<string, { ttl: number; maxTtl: number }>;
  tokens: Map<string, { expiresAt: number; revoked: boolean }>;
  leases: Map<string, { expiresAt: number; issuedAt: number; maxTtl: number; revoked: boolean; token: string; renewals: number }>;
  sealed: boolean;
  throttle: number;
}

const errors = (status: number, ...messages: string[]): FakeResponse => json(status, { errors: messages });

export async function startFakeVault(issuer: ClusterIssuer): Promise<FakeVault> {
  const server = await startFakeServer(async (req, srv) => {
    const v = srv as FakeVault;
    if (v.sealed) return errors(503, 'Vault is sealed');
    if (v.throttle > 0) {
      v.throttle -= 1;
      return errors(429, 'request path "' + req.url.pathname + '": rate limit quota exceeded');
    }
    const path = req.url.pathname;
    const login = /^\/v1\/auth\/([\w-]+)\/login$/.exec(path);
    if (login && req.method === 'POST') {
      const body = (req.json ?? {}) as { role?: string; jwt?: string };
      const role = v.roles.get(body.role ?? '');
      if (!role) return errors(400, `role "${body.role}" could not be found`);
      try {
        await issuer.verify(body.jwt ?? '', role.audience, srv.now());
      } catch {
        return errors(400, 'error validating token: invalid audience (aud) claim');
      }
      const token = `hvs.${randomBytes(18).toString('base64url')}`;
      v.tokens.set(token, { expiresAt: srv.now() + role.ttl * 1000, revoked: false });
      return json(200, { request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0, data: null, auth: { client_token: token, accessor: randomUUID(), policies: ['default', 'app'], token_policies: ['default', 'app'], lease_duration: role.ttl, renewable: true } });
    }
    const token = String(req.headers['x-vault-token'] ?? '');
    const t = v.tokens.get(token);
    if (!t || t.revoked || t.expiresAt <= srv.now()) return errors(403, 'permission denied');
    if (path === '/v1/auth/token/revoke-self' && req.method === 'POST') {
      t.revoked = true;
      for (const lease of v.leases.values()) if (lease.token === token) lease.revoked = true;
      return { status: 204, body: '' };
    }
    if (path === '/v1/sys/leases/renew' && (req.method === 'PUT' || req.method === 'POST')) {
      const body = (req.json ?? {}) as { lease_id?: string; increment?: number };
      const lease = v.leases.get(body.lease_id ?? '');
      if (!lease || lease.revoked || lease.expiresAt <= srv.now()) return errors(400, 'lease not found');
      const cap = lease.issuedAt + lease.maxTtl * 1000;
      lease.expiresAt = Math.min(srv.now() + (body.increment ?? 3600) * 1000, cap, t.expiresAt);
      lease.renewals += 1;
      return json(200, { request_id: randomUUID(), lease_id: body.lease_id, renewable: true, lease_duration: Math.floor((lease.expiresAt - srv.now()) / 1000), data: null });
    }
    if (path === '/v1/sys/leases/revoke' && (req.method === 'PUT' || req.method === 'POST')) {
      const lease = v.leases.get(((req.json ?? {}) as { lease_id?: string }).lease_id ?? '');
      if (lease) lease.revoked = true;
      return { status: 204, body: '' };
    }
    if (req.method === 'GET') {
      const key = path.replace(/^\/v1\//, '');
      const kv = v.kv.get(key);
      if (kv) {
        return json(200, { request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0, data: { data: kv, metadata: { created_time: new Date(srv.now()).toISOString(), version: 1, destroyed: false, deletion_time: '' } } });
      }
      const dyn = v.dynamic.get(key);
      if (dyn) {
        const leaseID = `${key}/${randomBytes(8).toString('hex')}`;
        const ttl = Math.min(dyn.ttl, Math.floor((t.expiresAt - srv.now()) / 1000));
        v.leases.set(leaseID, { issuedAt: srv.now(), expiresAt: srv.now() + ttl * 1000, maxTtl: dyn.maxTtl, revoked: false, token, renewals: 0 });
        return json(200, { request_id: randomUUID(), lease_id: leaseID, renewable: true, lease_duration: ttl, data: { username: `v-app-${randomBytes(4).toString('hex')}`, password: randomBytes(12).toString('base64url') } });
      }
      return errors(404);
    }
    return errors(405, 'unsupported operation');
  });
  return Object.assign(server, { roles: new Map(), kv: new Map(), dynamic: new Map(), tokens: new Map(), leases: new Map(), sealed: false, throttle: 0 }) as FakeVault;
}
