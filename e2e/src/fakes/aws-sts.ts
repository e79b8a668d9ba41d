// A fake of AWS STS AssumeRoleWithWebIdentity over the documented query API:
// form-encoded POST (Action, Version=2011-06-15, RoleArn, RoleSessionName,
// WebIdentityToken, DurationSeconds, Policy), answered with the documented XML
// (AssumeRoleWithWebIdentityResponse/AssumeRoleWithWebIdentityResult/Credentials)
// or the documented ErrorResponse XML (Type, Code, Message, RequestId):
// InvalidIdentityToken, ExpiredTokenException, AccessDenied, ValidationError,
// MalformedPolicyDocument, PackedPolicyTooLarge, Throttling (HTTP 400) and
// ServiceUnavailable (HTTP 503). See the STS API reference for
// AssumeRoleWithWebIdentity and "Common Errors".
import { randomBytes, randomUUID } from 'node:crypto';
import type { ClusterIssuer } from './identity-provider.ts';
import { startFakeServer, type FakeListen, type FakeResponse, type FakeServer } from './server.ts';

export interface IssuedAwsSession {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  roleArn: string;
  sessionName: string;
  policy: string | null;
  expiration: string;
}

export interface FakeSts extends FakeServer {
  /** Answer the next N requests with Throttling. */
  throttle: number;
  /** Answer the next N requests with 503 ServiceUnavailable. */
  unavailable: number;
  /** Roles that may be assumed; others are AccessDenied. */
  roles: Set<string>;
  issued: IssuedAwsSession[];
}

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/';

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function error(status: number, type: 'Sender' | 'Receiver', code: string, message: string): FakeResponse {
  return {
    status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() },
    body: `<ErrorResponse xmlns="${NS}">\n  <Error>\n    <Type>${type}</Type>\n    <Code>${code}</Code>\n    <Message>${xmlEscape(message)}</Message>\n  </Error>\n  <RequestId>${randomUUID()}</RequestId>\n</ErrorResponse>\n`,
  };
}

function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export async function startFakeSts(issuer: ClusterIssuer, opts: { audience?: string; roles?: string[]; listen?: FakeListen } = {}): Promise<FakeSts> {
  const audience = opts.audience ?? 'sts.amazonaws.com';
  const server = await startFakeServer(async (req, srv) => {
    const sts = srv as FakeSts;
    if (req.method !== 'POST' || !req.form) return error(400, 'Sender', 'InvalidAction', 'Could not find operation');
    if (sts.throttle > 0) {
      sts.throttle -= 1;
      return error(400, 'Sender', 'Throttling', 'Rate exceeded');
    }
    if (sts.unavailable > 0) {
      sts.unavailable -= 1;
      return error(503, 'Receiver', 'ServiceUnavailable', 'Service is unable to handle request.');
    }
    const f = req.form;
    if (f.get('Action') !== 'AssumeRoleWithWebIdentity' || f.get('Version') !== '2011-06-15') return error(400, 'Sender', 'InvalidAction', `Could not find operation ${f.get('Action')} for version ${f.get('Version')}`);
    const roleArn = f.get('RoleArn') ?? '';
    const sessionName = f.get('RoleSessionName') ?? '';
    const token = f.get('WebIdentityToken') ?? '';
    const duration = Number(f.get('DurationSeconds') ?? '3600');
    const policy = f.get('Policy');
    if (!/^[\w+=,.@-]{2,64}$/.test(sessionName)) return error(400, 'Sender', 'ValidationError', "1 validation error detected: Value at 'roleSessionName' failed to satisfy constraint");
    if (!Number.isInteger(duration) || duration < 900 || duration > 43200) return error(400, 'Sender', 'ValidationError', "1 validation error detected: Value at 'durationSeconds' failed to satisfy constraint");
    if (policy !== null) {
      try {
        JSON.parse(policy);
      } catch {
        return error(400, 'Sender', 'MalformedPolicyDocument', 'Syntax errors in policy.');
      }
      if (policy.length > 2048) return error(400, 'Sender', 'PackedPolicyTooLarge', 'Packed size of the policy exceeds the limit.');
    }
    try {
      await issuer.verify(token, audience, srv.now());
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_JWT_EXPIRED') return error(400, 'Sender', 'ExpiredTokenException', 'Token expired');
      return error(400, 'Sender', 'InvalidIdentityToken', 'Couldn\'t retrieve verification key from your identity provider');
    }
    if (!sts.roles.has(roleArn)) return error(403, 'Sender', 'AccessDenied', 'Not authorized to perform sts:AssumeRoleWithWebIdentity');
    const session: IssuedAwsSession = {
      accessKeyId: `ASIA${randomBytes(8).toString('hex').toUpperCase()}`,
      secretAccessKey: randomBytes(30).toString('base64'),
      sessionToken: randomBytes(64).toString('base64'),
      roleArn,
      sessionName,
      policy,
      expiration: isoSeconds(srv.now() + duration * 1000),
    };
    sts.issued.push(session);
    const role = roleArn.split(':role/')[1] ?? 'role';
    return {
      status: 200,
      headers: { 'content-type': 'text/xml', 'x-amzn-requestid': randomUUID() },
      body: `<AssumeRoleWithWebIdentityResponse xmlns="${NS}">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>system:serviceaccount:payments:payments-api</SubjectFromWebIdentityToken>
    <Audience>${xmlEscape(audience)}</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::123456789012:assumed-role/${xmlEscape(role)}/${xmlEscape(sessionName)}</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:${xmlEscape(sessionName)}</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>${xmlEscape(session.sessionToken)}</SessionToken>
      <SecretAccessKey>${xmlEscape(session.secretAccessKey)}</SecretAccessKey>
      <Expiration>${session.expiration}</Expiration>
      <AccessKeyId>${session.accessKeyId}</AccessKeyId>
    </Credentials>
    <Provider>oidc.cluster.example</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>${randomUUID()}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
`,
    };
  }, opts.listen);
  return Object.assign(server, { throttle: 0, unavailable: 0, roles: new Set(opts.roles ?? []), issued: [] as IssuedAwsSession[] });
}
