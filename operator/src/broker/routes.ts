// The built-in broker as a fastify plugin: the RFC 8693 token exchange
// (POST /v1/token), OpenID discovery and the JWKS. The protocol is documented
// in @mayfly/sidecar/credentials/broker-protocol. Mount it in the controller's
// server with `app.register(brokerRoutes(deps))`; the form parser it adds stays
// inside the plugin.
import type { CompiledPolicy } from '@mayfly/crds';
import {
  DISCOVERY_PATH,
  JWKS_PATH,
  JWT_TOKEN_TYPE,
  SECRET_TOKEN_TYPE,
  TOKEN_EXCHANGE_GRANT,
  TOKEN_PATH,
  policyFromResource,
} from '@mayfly/sidecar/credentials/broker-protocol';
import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import type { JWK } from 'jose';
import { authorize, brokerPodFrom, claimOf, type ExchangeTarget, type OAuthError } from './authorize.ts';
import type { BrokerAudit, BrokerAuditRecord } from './audit.ts';
import { issueToken } from './issue.ts';
import type { ImportedKey } from './keys.ts';
import type { BrokerKube } from './kube.ts';
import { subjectTokenExpiry, subjectTokenProblem } from './subject-token.ts';

export interface BrokerKeys {
  signingKey(): Promise<ImportedKey>;
  jwks(): { keys: JWK[] };
  readonly schedule: { maxTokenTtlMs: number };
}

export interface BrokerDeps {
  /** The issuer URL receivers check (`iss`), also the base of the discovery document. */
  issuer: string;
  /** SPIFFE trust domain of the `sub` claim, e.g. "cluster.local". */
  trustDomain: string;
  kube: BrokerKube;
  keys: BrokerKeys;
  /** Compiled policies of a namespace, from the operator's informer cache. */
  policiesFor(namespace: string): readonly CompiledPolicy[] | Promise<readonly CompiledPolicy[]>;
  audit: BrokerAudit;
  now?: () => number;
  /** Mayfly's own containers, left out of posture checks. */
  ownContainers?: { names: string[]; image?: string };
  /** Lease of a released secretRef value. Default 300 s. */
  secretLeaseSeconds?: number;
  /** Audience of the subject tokens. Default "mayfly". */
  subjectAudience?: string;
}

const STATUS: Partial<Record<OAuthError, number>> = { invalid_client: 401, server_error: 500, temporarily_unavailable: 503 };
const SINGLE = ['grant_type', 'subject_token', 'subject_token_type', 'resource', 'audience', 'requested_token_type', 'scope', 'actor_token', 'actor_token_type'];

function noStore(reply: FastifyReply): FastifyReply {
  return reply.header('cache-control', 'no-store').header('pragma', 'no-cache');
}

export function brokerRoutes(deps: BrokerDeps): FastifyPluginAsync {
  const now = deps.now ?? Date.now;
  const subjectAudience = deps.subjectAudience ?? 'mayfly';
  const own = deps.ownContainers ?? { names: ['mayfly-sidecar', 'mayfly-init'] };

  return async (app: FastifyInstance) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 65_536 }, (_req, body, done) => {
      done(null, new URLSearchParams(body as string));
    });

    app.get(DISCOVERY_PATH, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return {
        issuer: deps.issuer,
        jwks_uri: `${deps.issuer}${JWKS_PATH}`,
        token_endpoint: `${deps.issuer}${TOKEN_PATH}`,
        grant_types_supported: [TOKEN_EXCHANGE_GRANT],
        token_endpoint_auth_methods_supported: ['none'],
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
        claims_supported: ['iss', 'sub', 'aud', 'exp', 'nbf', 'iat', 'jti', 'mayfly.dev'],
      };
    });

    app.get(JWKS_PATH, async (_req, reply) => {
      // Short cache: a pre-published key must reach receivers before it signs.
      reply.header('cache-control', 'public, max-age=60');
      return deps.keys.jwks();
    });

    app.post(TOKEN_PATH, async (req, reply) => {
      const record: BrokerAuditRecord = { decision: 'refuse', remote: req.ip };
      const fail = (error: OAuthError, reason: string, description: string) => {
        deps.audit({ ...record, decision: 'refuse', error, reason });
        return noStore(reply.code(STATUS[error] ?? 400)).send({ error, error_description: description });
      };

      const params = req.body;
      if (!(params instanceof URLSearchParams)) return fail('invalid_request', 'ERR_BODY', 'body must be application/x-www-form-urlencoded');
      for (const name of SINGLE) if (params.getAll(name).length > 1) return fail('invalid_request', 'ERR_PARAMETER_REPEATED', `${name} repeated`);
      const grantType = params.get('grant_type');
      if (grantType !== TOKEN_EXCHANGE_GRANT) return fail('unsupported_grant_type', 'ERR_GRANT_TYPE', 'only token exchange is supported');
      const subjectToken = params.get('subject_token') ?? '';
      if (params.get('subject_token_type') !== JWT_TOKEN_TYPE) return fail('invalid_request', 'ERR_SUBJECT_TOKEN_TYPE', 'subject_token_type must be jwt');
      if (params.has('actor_token')) return fail('invalid_request', 'ERR_ACTOR_TOKEN', 'delegation is not supported');
      const policyID = policyFromResource(params.get('resource') ?? '');
      if (!policyID) return fail('invalid_target', 'ERR_RESOURCE', 'resource must name a policy');
      const requested = params.get('requested_token_type') ?? JWT_TOKEN_TYPE;
      if (requested !== JWT_TOKEN_TYPE && requested !== SECRET_TOKEN_TYPE) return fail('invalid_request', 'ERR_REQUESTED_TOKEN_TYPE', 'unsupported requested_token_type');
      const audience = params.get('audience') ?? undefined;
      const target: ExchangeTarget = { policyID, requestedTokenType: requested, ...(audience !== undefined ? { audience } : {}) };
      Object.assign(record, { policy: policyID, audience, tokenType: requested });

      const problem = subjectTokenProblem(subjectToken);
      if (problem) return fail('invalid_grant', problem, 'subject token rejected');

      let review;
      try {
        review = await deps.kube.review(subjectToken, [subjectAudience]);
      } catch (err) {
        req.log.error({ err: (err as Error).message }, 'token review failed');
        return fail('temporarily_unavailable', 'ERR_TOKEN_REVIEW', 'cannot verify the subject token now');
      }
      const claim = claimOf(review, subjectAudience);
      if ('allow' in claim) return fail(claim.allow ? 'server_error' : claim.error, claim.allow ? 'ERR_INTERNAL' : claim.reason, claim.allow ? 'internal error' : claim.description);
      Object.assign(record, { namespace: claim.namespace, serviceAccount: claim.serviceAccount, pod: claim.podName, podUID: claim.podUID });

      let pod;
      let policies;
      try {
        [pod, policies] = await Promise.all([deps.kube.pod(claim.namespace, claim.podName), deps.policiesFor(claim.namespace)]);
      } catch (err) {
        req.log.error({ err: (err as Error).message }, 'broker lookup failed');
        return fail('temporarily_unavailable', 'ERR_LOOKUP', 'cannot read the pod or policy now');
      }
      const t = now();
      const decision = authorize(policies.find((p) => p.id === policyID), pod ? brokerPodFrom(pod, own) : null, review, t, target, subjectAudience);
      if (!decision.allow) return fail(decision.error, decision.reason, decision.description);
      if (decision.wouldDeny) record.wouldDeny = decision.wouldDeny;

      const policy = decision.policy;
      const provider = policy.credential.provider;
      const limits = [subjectTokenExpiry(subjectToken) ?? t, policy.expiresAt ? Date.parse(policy.expiresAt) : Infinity];
      if (provider.kind === 'broker') {
        const expiresAt = Math.min(t + provider.ttlSeconds * 1000, t + deps.keys.schedule.maxTokenTtlMs, ...limits);
        if (expiresAt - t < 1000) return fail('invalid_grant', 'ERR_SUBJECT_TOKEN_EXPIRING', 'subject token expires too soon');
        const issued = await issueToken(await deps.keys.signingKey(), {
          issuer: deps.issuer,
          trustDomain: deps.trustDomain,
          namespace: claim.namespace,
          serviceAccount: claim.serviceAccount,
          podName: claim.podName,
          podUID: claim.podUID,
          policyID,
          audience: provider.audience,
          now: t,
          expiresAt,
        });
        deps.audit({ ...record, decision: 'issue', jti: issued.jti, kid: issued.kid, expiresAt: new Date(issued.exp * 1000).toISOString() });
        return noStore(reply).send({ access_token: issued.token, issued_token_type: JWT_TOKEN_TYPE, token_type: 'Bearer', expires_in: issued.exp - issued.iat });
      }
      if (provider.kind !== 'secretRef') return fail('invalid_target', 'ERR_POLICY_UNKNOWN', 'unknown policy');
      let value: string | null;
      try {
        value = await deps.kube.secretValue(policy.namespace, provider.name, provider.key);
      } catch (err) {
        req.log.error({ err: (err as Error).message }, 'secret read failed');
        return fail('temporarily_unavailable', 'ERR_SECRET_READ', 'cannot read the secret now');
      }
      if (value === null || value === '') return fail('invalid_target', 'ERR_SECRET_MISSING', 'the policy secret does not exist');
      const expiresIn = Math.floor((Math.min(t + (deps.secretLeaseSeconds ?? 300) * 1000, ...limits) - t) / 1000);
      if (expiresIn < 1) return fail('invalid_grant', 'ERR_SUBJECT_TOKEN_EXPIRING', 'subject token expires too soon');
      deps.audit({ ...record, decision: 'issue', expiresAt: new Date(t + expiresIn * 1000).toISOString() });
      return noStore(reply).send({ access_token: value, issued_token_type: SECRET_TOKEN_TYPE, token_type: 'N_A', expires_in: expiresIn });
    });
  };
}
