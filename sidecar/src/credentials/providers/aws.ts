// AWS temporary credentials from STS AssumeRoleWithWebIdentity at the regional
// endpoint, through the AWS SDK's own STS client (query protocol, XML parsing,
// error codes, retries of throttling with its standard strategy). The request
// is unsigned; the projected token is the web identity. The credentials' expiry
// is moved onto the local clock using STS's Date header, so a skewed clock
// neither serves expired credentials nor throws away good ones.
import { Agent } from 'node:https';
import { rootCertificates } from 'node:tls';
import { AssumeRoleWithWebIdentityCommand, STSClient, STSServiceException } from '@aws-sdk/client-sts';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { CompiledPolicy } from '@mayfly/crds';
import { CredentialError, type Credential } from '../../contracts.ts';
import { skewCorrected, type ProviderContext } from './common.ts';
import { sessionPolicy } from './aws-session-policy.ts';
import type { Provider } from './types.ts';

/** STS error codes that mean this pod may not have the role (not worth a fast retry). */
const REFUSED = new Set(['InvalidIdentityToken', 'IDPRejectedClaim', 'AccessDenied', 'RegionDisabled', 'MalformedPolicyDocument', 'PackedPolicyTooLarge', 'ValidationError']);

/** A RoleSessionName from the pod: [\w+=,.@-]{2,64}. */
export function roleSessionName(namespace: string, pod: string): string {
  return `mayfly-${namespace}-${pod}`.replace(/[^\w+=,.@-]/g, '-').slice(0, 64);
}

export function createAwsProvider(ctx: ProviderContext, opts: { maxAttempts?: number } = {}): Provider {
  const clients = new Map<string, STSClient>();

  function client(region: string, endpoint: string | undefined): STSClient {
    const key = `${region}|${endpoint ?? ''}`;
    let c = clients.get(key);
    if (!c) {
      c = new STSClient({
        region,
        endpoint: endpoint ?? `https://sts.${region}.amazonaws.com`,
        maxAttempts: opts.maxAttempts ?? 3,
        requestHandler: new NodeHttpHandler({
          httpsAgent: new Agent({ keepAlive: true, ...(ctx.extraCA ? { ca: [...rootCertificates, ctx.extraCA] } : {}) }),
          requestTimeout: ctx.timeoutMs ?? 10_000,
          connectionTimeout: ctx.timeoutMs ?? 10_000,
        }),
        // AssumeRoleWithWebIdentity is unsigned: never look for ambient AWS credentials.
        credentials: { accessKeyId: 'unused', secretAccessKey: 'unused' },
      });
      clients.set(key, c);
    }
    return c;
  }

  return {
    async get(policy: CompiledPolicy, signal?: AbortSignal): Promise<Credential> {
      const p = policy.credential.provider;
      if (p.kind !== 'aws') throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'not an aws policy');
      const token = await ctx.tokens.read(p.tokenAudience);
      const scoped = sessionPolicy(policy);
      const command = new AssumeRoleWithWebIdentityCommand({
        RoleArn: p.roleARN,
        RoleSessionName: roleSessionName(ctx.identity.namespace, ctx.identity.name),
        WebIdentityToken: token.value,
        DurationSeconds: p.sessionSeconds,
        ...(scoped ? { Policy: scoped } : {}),
      });
      // STS's Date header, to move the expiry onto the local clock.
      let serverDate: number | null = null;
      command.middlewareStack.add(
        (next) => async (args) => {
          const result = await next(args);
          const date = (result.response as { headers?: Record<string, string> }).headers?.date;
          const parsed = date ? Date.parse(date) : NaN;
          if (Number.isFinite(parsed)) serverDate = parsed;
          return result;
        },
        { step: 'deserialize', name: 'mayflyServerDate' },
      );
      let out;
      try {
        out = await client(p.region, p.stsEndpoint).send(command, signal ? { abortSignal: signal } : {});
      } catch (err) {
        if (signal?.aborted) throw signal.reason ?? err;
        // The SDK names modelled errors <Code>Exception; unmodelled ones by their code.
        const name = err instanceof STSServiceException ? err.name.replace(/Exception$/, '') : '';
        if (name === 'ExpiredToken') throw new CredentialError('ERR_NO_TOKEN', 'aws sts: web identity token expired', { cause: err });
        if (REFUSED.has(name)) throw new CredentialError('ERR_CREDENTIAL_DENIED', `aws sts: ${name}`, { cause: err });
        throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `aws sts: ${name || 'request failed'}`, { cause: err });
      }
      const c = out.Credentials;
      if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration) throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', 'aws sts: response without credentials');
      const now = ctx.now();
      if (serverDate !== null && Math.abs(serverDate - now) > 60_000) ctx.logger?.warn({ skewMs: serverDate - now, policy: policy.id }, 'clock differs from aws sts');
      return {
        value: '',
        aws: { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken },
        expiresAt: skewCorrected(c.Expiration.getTime(), serverDate, now),
        id: c.AccessKeyId,
      };
    },
    async close() {
      for (const c of clients.values()) c.destroy();
      clients.clear();
    },
  };
}
