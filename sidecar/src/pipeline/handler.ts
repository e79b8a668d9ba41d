// The request pipeline, pass by pass: parse, canonicalise, decide, strip,
// inject, forward, stream back, audit. Each pass is a pure function elsewhere;
// this file only strings them together with the I/O.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { CompiledDestination, CompiledInjection, CompiledPolicy } from '@mayfly/crds';
import { CredentialError, type Credential, type CredentialSource, type PodIdentity, type PolicySnapshot } from '../contracts.ts';
import { audit, type AuditRecord } from '../audit.ts';
import type { Metrics } from '../metrics.ts';
import { DENY_MESSAGES, decideAmong, hostMatches, type Decision } from '../policy/decide.ts';
import { checkStrictPath } from '../http/path.ts';
import { appendRequestHeaders, traceContext } from '../http/headers.ts';
import { InjectError, injectCredential, injectedHeaderName, type RequestSigner } from '../http/inject.ts';
import { formatAuthority } from '../http/authority.ts';
import { ResolveError, type Resolver } from '../net/resolve.ts';
import type { UpstreamPool, UpstreamTarget } from './forward.ts';
import type { FrontRequest, FrontResponse } from '../server/http1.ts';
import { parseRequest, type ConnInfo, type ParsedRequest } from './request.ts';
import { writeError, type SidecarError } from './respond.ts';
import { HostPolicies } from './host-policies.ts';
import { relay } from './relay.ts';
import type * as AwsSignerTypes from './aws-signer.ts';

type AwsSignerModule = typeof AwsSignerTypes;

export interface PipelineState {
  snapshot: PolicySnapshot;
  identity: PodIdentity;
  draining: boolean;
}

export interface PipelineDeps {
  state: PipelineState;
  credentials: CredentialSource;
  resolver: Resolver;
  pool: UpstreamPool;
  log: Logger;
  metrics: Metrics;
  signer?: RequestSigner;
  limits: { maxSignedBodyBytes: number; upstreamTimeoutMs: number };
  now: () => number;
}

const CREDENTIAL_STATUS: Record<string, number> = { ERR_CREDENTIAL_UNAVAILABLE: 503, ERR_CREDENTIAL_EXPIRED: 503, ERR_NO_TOKEN: 503, ERR_CREDENTIAL_DENIED: 502 };

function destinationFor(policy: CompiledPolicy, host: string, port: number): CompiledDestination | undefined {
  let hostOnly: CompiledDestination | undefined;
  for (const d of policy.destinations) {
    if (!hostMatches(d, host)) continue;
    if (d.ports.includes(port)) return d;
    hostOnly ??= d;
  }
  return hostOnly;
}

/** The audit form of a credential, made once per credential (they are cached and reused). */
const auditForms = new WeakMap<Credential, { id: string; expiresAt: string }>();
function auditForm(c: Credential): { id: string; expiresAt: string } {
  let form = auditForms.get(c);
  if (form === undefined) {
    form = { id: c.id, expiresAt: new Date(c.expiresAt).toISOString() };
    auditForms.set(c, form);
  }
  return form;
}

/** Reads a body up to `limit` bytes; null (and the rest left unread) when it is larger. */
function readBody(req: Readable | null, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    if (req === null) return resolve(Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done();
        req.pause();
        resolve(null);
      } else chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (err: Error): void => {
      done();
      reject(err);
    };
    const onClose = (): void => onError(new Error('client closed the request'));
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

export function createHandler(deps: PipelineDeps) {
  const { state, log, metrics } = deps;
  const hostPolicies = new HostPolicies();

  return function handle(req: FrontRequest, res: FrontResponse, conn: ConnInfo): void {
    const started = performance.now();
    const identity = state.identity;
    const record: AuditRecord = {
      pod: { namespace: identity.namespace, name: identity.name, serviceAccount: identity.serviceAccount },
      destination: { host: '', port: conn.port ?? 0, tls: conn.tls },
      decision: 'deny',
      reason: '',
      method: req.method,
    };
    traceContext(req.rawHeaders, record);
    if (state.draining) res.shouldKeepAlive = false;

    const finish = (): void => {
      record.durationMs = Math.round((performance.now() - started) * 1000) / 1000;
      if (record.status === undefined) record.status = res.statusCode;
      metrics.requests.inc({ decision: record.decision, policy: record.policy ?? '', mode: record.mode ?? '' });
      metrics.latency.observe({ decision: record.decision }, record.durationMs / 1000);
      audit(log, record);
    };
    const fail = (e: SidecarError, decision: AuditRecord['decision'] = 'deny'): void => {
      record.decision = decision;
      // an Audit decision keeps its reason (what the policy would have said);
      // what went wrong afterwards is in `error` and `status`
      if (e.code !== 'policy-denied' && decision !== 'audit') record.reason = e.code;
      record.error = e.message;
      if (e.status === 499) record.status = 499;
      writeError(res, e);
      finish();
    };

    const parsed = parseRequest(req, conn);
    if (!parsed.ok) return fail(parsed.error);
    const r = parsed.request;
    const host = r.authority.host;
    record.destination = { host, port: r.port, tls: r.tls };
    record.path = r.target.path;

    const known = hostPolicies.get(state.snapshot, identity, host);
    let decision: Decision = known.length === 0 ? PASSTHROUGH : decideAmong(known, identity, { host, port: r.port, method: req.method, path: r.target.path, tls: r.tls }, deps.now());
    if (decision.action !== 'passthrough') {
      record.policy = decision.policy.id;
      record.mode = decision.mode;
      const strict = checkStrictPath(r.target.path);
      if (!strict.ok) {
        if (decision.action === 'audit') {
          decision = { ...decision, reason: decision.reason, wouldDeny: true };
          record.error = strict.reason;
        } else {
          return fail({ status: 400, code: 'ambiguous-path', message: `rejected path: ${strict.reason}`, policy: decision.policy.id });
        }
      }
    }
    record.reason = decision.reason;
    if (decision.action === 'deny') {
      return fail({ status: 403, code: 'policy-denied', message: `request denied: ${DENY_MESSAGES[decision.reason]}`, policy: decision.policy.id });
    }
    if (decision.action === 'audit') {
      record.decision = 'audit';
      record.wouldDeny = decision.wouldDeny;
    } else record.decision = decision.action;

    forward(req, res, r, decision, record).then(finish, (err: unknown) => {
      const e = failureOf(err);
      if (!e) log.error({ err }, 'pipeline failed');
      fail(e ?? { status: 502, code: 'internal', message: 'request failed in the sidecar' }, record.decision);
    });
  };

  async function forward(req: FrontRequest, res: FrontResponse, r: ParsedRequest, decision: Decision, record: AuditRecord): Promise<void> {
    const policy = decision.action === 'passthrough' ? null : decision.policy;
    const policyId = policy?.id;
    const dest = policy ? destinationFor(policy, r.authority.host, r.port) : undefined;
    const enforce = decision.action === 'allow';
    const injection = enforce && policy ? policy.credential.inject : null;
    const signing = injection?.kind === 'awsSigV4';

    let credential: Credential | null = null;
    if (enforce && policy) {
      try {
        credential = await deps.credentials.get(policy);
        if (credential.expiresAt <= deps.now()) throw new CredentialError('ERR_CREDENTIAL_EXPIRED', 'the credential has expired');
      } catch (err) {
        const code = err instanceof CredentialError ? err.code : 'ERR_CREDENTIAL_UNAVAILABLE';
        deps.metrics.credentialErrors.inc({ code });
        throw sidecarError({ status: CREDENTIAL_STATUS[code] ?? 503, code, message: `no credential for this request, so it was not sent: ${err instanceof Error ? err.message : String(err)}`, policy: policy.id });
      }
      record.credential = auditForm(credential);
    }

    const hostHeader = formatAuthority(r.authority.host, r.port, r.tls ? 443 : 80);
    let headers: string[] = ['Host', hostHeader];
    const stripped: string[] | null = enforce ? [] : null;
    appendRequestHeaders(req.rawHeaders, { strip: enforce, injectedHeader: injection ? injectedHeaderName(injection) : null, signing }, headers, stripped);
    if (stripped !== null && stripped.length > 0) record.stripped = stripped;
    let query = r.target.query;
    let body: NodeJS.ReadableStream | Buffer | null = r.body.kind === 'chunked' || (r.body.kind === 'length' && r.body.length > 0) ? req.body : null;

    if (credential && injection) {
      if (injection.kind === 'awsSigV4') {
        const signed = await sign(req, r, hostHeader, headers, credential, injection, policyId);
        headers = signed.headers;
        query = signed.query;
        body = signed.body;
      } else {
        try {
          const out = injectCredential(injection, credential, query);
          for (const [k, v] of out.headers) headers.push(k, v);
          query = out.query;
        } catch (err) {
          if (err instanceof InjectError) throw sidecarError({ status: 502, code: err.code, message: `credential not usable: ${err.message}`, policy: policyId });
          throw err;
        }
      }
    }

    let address: string;
    try {
      address = await deps.resolver.resolve(r.authority.host, dest ? dest.allowPrivateAddresses : true);
    } catch (err) {
      if (err instanceof ResolveError) throw sidecarError({ status: err.code === 'ERR_ADDRESS_FORBIDDEN' ? 403 : 502, code: err.code, message: err.message, ...(policyId ? { policy: policyId } : {}) });
      throw err;
    }

    const target: UpstreamTarget = { tls: r.tls, host: r.authority.host, port: r.port, address, credentialId: credential?.id ?? null };
    if (dest?.caBundle) target.caBundle = dest.caBundle;
    const path = query === null ? r.target.path : `${r.target.path}?${query}`;
    try {
      const status = await relay(deps.pool, { target, method: req.method, path, headers, body, timeoutMs: deps.limits.upstreamTimeoutMs, policy: policyId }, res);
      if (status !== undefined) record.status = status;
    } catch (e) {
      throw sidecarError(e as SidecarError);
    }
  }

  /** Reads the body (bounded), replaces the placeholder signature with a real one over exactly what is forwarded. */
  async function sign(req: FrontRequest, r: ParsedRequest, hostHeader: string, flat: string[], credential: Credential, injection: Extract<CompiledInjection, { kind: 'awsSigV4' }>, policy: string | undefined): Promise<{ headers: string[]; query: string | null; body: Buffer }> {
    const body = await readBody(req.body, deps.limits.maxSignedBodyBytes);
    if (body === null) throw sidecarError({ status: 413, code: 'body-too-large', message: `the body of a signed request may be at most ${deps.limits.maxSignedBodyBytes} bytes`, policy, close: true });
    // the body was read to sign it: it goes with an exact length, which is signed
    // too, and only when the client (undici) sends one: for a body, or for a
    // method that expects one (RFC 9110 8.6)
    const method = req.method;
    const pairs: Array<[string, string]> = [];
    for (let i = 2; i < flat.length; i += 2) if ((flat[i] as string).toLowerCase() !== 'content-length') pairs.push([flat[i] as string, flat[i + 1] as string]);
    if (body.length > 0 || method === 'PUT' || method === 'POST' || method === 'PATCH' || method === 'QUERY') pairs.push(['content-length', String(body.length)]);
    let signed;
    try {
      signed = await (deps.signer ?? (await awsSigner()).awsRequestSigner)({ method, host: hostHeader, path: r.target.path, query: r.target.query, headers: pairs, body, now: deps.now() }, credential, injection);
    } catch (err) {
      const f = (await awsSigner()).signerFailure(err);
      if (f) throw sidecarError({ ...f, ...(policy ? { policy } : {}) });
      throw err;
    }
    const headers = ['Host', hostHeader];
    for (const [k, v] of signed.headers) {
      if (/[\r\n\0]/.test(k) || /[\r\n\0]/.test(v)) throw sidecarError({ status: 502, code: 'ERR_CREDENTIAL_INVALID', message: 'signer produced a header with CR, LF or NUL', policy });
      headers.push(k, v);
    }
    return { headers, query: signed.query, body };
  }
}

const PASSTHROUGH: Decision = { action: 'passthrough', reason: 'no-policy' };

/** The SigV4 re-signer, loaded on the first signed request: the AWS SDK's signer stays out of sidecars that never sign. */
let awsSignerModule: Promise<AwsSignerModule> | null = null;
function awsSigner(): Promise<AwsSignerModule> {
  return (awsSignerModule ??= import('./aws-signer.ts'));
}

function sidecarError(e: SidecarError): Error {
  return Object.assign(new Error(e.message), { sidecar: e });
}

/** Turns a pipeline failure into the response the client sees. */
export function failureOf(err: unknown): SidecarError | null {
  return (err as { sidecar?: SidecarError }).sidecar ?? null;
}
