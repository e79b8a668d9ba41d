// awsSigV4 injection end to end: a real AWS SDK (S3 client, PutObject and
// GetObject) signs with the placeholder credentials the webhook gives apps; its
// HTTPS connection is "captured" to the running sidecar (as the iptables
// REDIRECT would), which strips the placeholder signature and signs again with
// the pod's temporary credentials. The upstream is a fake of S3's REST API on
// loopback (PUT and GET of an object, path-style, the documented XML error
// body; and one DynamoDB JSON answer) that VERIFIES every SigV4 signature itself: it recomputes it with
// @smithy/signature-v4 over @aws-crypto/sha256-js from the request it received
// and the credentials it knows, checks the payload hash against the body it
// received, and answers 403 SignatureDoesNotMatch otherwise, as S3 does.
import t from 'tap';
import https from 'node:https';
import tls from 'node:tls';
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { startHarness, type Harness } from './helpers/harness.ts';
import { createTestCa } from './helpers/pki.ts';

// The AWS-side check lives with the other AWS fakes in @mayfly/e2e; a computed
// specifier keeps the TypeScript project references acyclic (e2e -> sidecar).
interface Verified {
  ok: boolean;
  why?: string;
  accessKeyId?: string;
  scope?: string;
  signedHeaders?: string[];
}
const SIGV4_FAKE = '@mayfly/e2e/fakes/sigv4';
const { verifySigV4 } = (await import(SIGV4_FAKE)) as { verifySigV4(req: IncomingMessage, body: Buffer, secrets: Record<string, { secret: string; token: string }>): Promise<Verified> };

// The placeholder credentials the webhook puts in app containers (read from its source, so they stay in sync).
const paths = readFileSync(new URL('../../webhook/src/inject/paths.ts', import.meta.url), 'utf8');
const PLACEHOLDER_KEY = /AWS_PLACEHOLDER_ACCESS_KEY_ID = '([^']+)'/.exec(paths)?.[1] as string;
const PLACEHOLDER_SECRET = /AWS_PLACEHOLDER_SECRET_ACCESS_KEY = '([^']+)'/.exec(paths)?.[1] as string;
t.equal(PLACEHOLDER_KEY, 'MAYFLYPLACEHOLDERKEY');

// The pod's real temporary credentials, as STS AssumeRoleWithWebIdentity would return them.
const REAL = { accessKeyId: 'ASIAREALTEMPKEY00001', secretAccessKey: 'real/secret+Key0000000000000000000000000', sessionToken: 'FwoGZXIvYXdzEREALSESSIONTOKEN//////////' };
const SIGNING_LIMIT = 64 * 1024;

const ca = await createTestCa();
const S3_HOST = 's3.eu-west-1.amazonaws.com';
const DDB_HOST = 'dynamodb.eu-west-1.amazonaws.com';

const objects = new Map<string, { body: Buffer; type: string; meta: Record<string, string> }>();
const verified: Verified[] = [];
const s3Error = (res: ServerResponse, status: number, code: string, message: string): void => {
  res.writeHead(status, { 'content-type': 'application/xml' });
  res.end(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>mayfly-test</RequestId></Error>`);
};
function respond(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
  void verifySigV4(req, body, { [REAL.accessKeyId]: { secret: REAL.secretAccessKey, token: REAL.sessionToken } }).then((v) => {
    verified.push(v);
    if (!v.ok) return s3Error(res, 403, v.why === 'InvalidAccessKeyId' ? 'InvalidAccessKeyId' : 'SignatureDoesNotMatch', v.why ?? 'signature mismatch');
    if (req.headers.host?.startsWith(DDB_HOST)) {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
      return res.end('{"TableNames":[]}');
    }
    const key = decodeURIComponent((req.url ?? '').split('?')[0] as string);
    const etag = `"${createHash('md5').update(body).digest('hex')}"`;
    if (req.method === 'PUT') {
      const meta = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k.startsWith('x-amz-meta-')).map(([k, v]) => [k.slice(11), String(v)]));
      objects.set(key, { body, type: req.headers['content-type'] ?? 'binary/octet-stream', meta });
      res.writeHead(200, { etag, 'x-amz-request-id': 'mayfly-test' });
      return res.end();
    }
    const o = objects.get(key);
    if (req.method !== 'GET') return s3Error(res, 405, 'MethodNotAllowed', 'method not allowed');
    if (!o) return s3Error(res, 404, 'NoSuchKey', 'The specified key does not exist.');
    res.writeHead(200, { 'content-type': o.type, 'content-length': o.body.length, etag: `"${createHash('md5').update(o.body).digest('hex')}"`, 'last-modified': new Date().toUTCString(), ...Object.fromEntries(Object.entries(o.meta).map(([k, v]) => [`x-amz-meta-${k}`, v])) });
    res.end(o.body);
  });
}

interface Received {
  method: string;
  url: string;
  rawHeaders: string[];
  headers: IncomingMessage['headers'];
  body: string;
}
/** The fake S3 (and DynamoDB) endpoint: records every request head as it arrives (before any body) and every full request. */
const leafCert = await ca.issue([S3_HOST, DDB_HOST]);
const up = { port: 0, heads: 0, received: [] as Received[] };
const server = https.createServer({ key: leafCert.key, cert: leafCert.cert }, (req, res) => {
  up.heads++;
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    up.received.push({ method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, headers: req.headers, body: body.toString() });
    respond(req, res, body);
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
up.port = (server.address() as AddressInfo).port;

const policy = (name: string, host: string, inject: string) => `---
apiVersion: mayfly.dev/v1alpha1
kind: WorkloadPolicy
metadata: { name: ${name}, namespace: payments }
spec:
  subjects: { serviceAccounts: [payments-api] }
  destinations: [{ host: ${host}, ports: [${up.port}] }]
  credential:
    provider: { aws: { roleARN: "arn:aws:iam::123456789012:role/payments", region: eu-west-1 } }
    inject: ${inject}
`;
const h: Harness = await startHarness({
  policies: policy('to-s3', S3_HOST, '{ awsSigV4: {} }') + policy('to-dynamodb', DDB_HOST, '{ awsSigV4: {} }'),
  captures: [up.port],
  upstreamCa: [ca.cert],
  limits: { maxSignedBodyBytes: SIGNING_LIMIT },
  names: { [S3_HOST]: '203.0.113.10', [DDB_HOST]: '203.0.113.11' },
});
const awsCredential = { value: '', aws: REAL, id: REAL.accessKeyId, expiresAt: Date.now() + 3600_000 };
h.creds.values.set('payments/to-s3', awsCredential);
h.creds.values.set('payments/to-dynamodb', awsCredential);
t.teardown(async () => {
  await h.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

/** An https.Agent whose connections to the upstream's port land on the sidecar's listener, as the capture rules make them. */
class CapturedAgent extends https.Agent {
  override createConnection(options: tls.ConnectionOptions): tls.TLSSocket {
    return tls.connect({ ...options, host: '127.0.0.1', port: h.port(Number(options.port)), servername: options.servername ?? (options.host as string), ca: h.caPem() });
  }
}
const agent = new CapturedAgent({ keepAlive: true });
t.teardown(() => agent.destroy());
const s3 = new S3Client({
  region: 'eu-west-1',
  endpoint: `https://${S3_HOST}:${up.port}`,
  forcePathStyle: true,
  credentials: { accessKeyId: PLACEHOLDER_KEY, secretAccessKey: PLACEHOLDER_SECRET },
  requestHandler: new NodeHttpHandler({ httpsAgent: agent }),
  maxAttempts: 1,
});
t.teardown(() => s3.destroy());

const everything = (): string => JSON.stringify(up.received);

t.test('PutObject and GetObject: signed again with the real temporary credentials, verified by the upstream', async (t) => {
  const before = up.received.length;
  const key = 'reports/2024 q1+final.csv';
  const content = 'id,amount\n1,2000\n';
  const put = await s3.send(new PutObjectCommand({ Bucket: 'payments-reports', Key: key, Body: content, ContentType: 'text/csv', Metadata: { owner: 'payments' } }));
  t.equal(put.$metadata.httpStatusCode, 200, 'the SDK saw the upload succeed');
  const got = await s3.send(new GetObjectCommand({ Bucket: 'payments-reports', Key: key }));
  t.equal(await got.Body?.transformToString(), content, 'and read the same object back');
  t.equal(got.Metadata?.owner, 'payments', 'x-amz-meta-* of the app crossed, signed');

  const seen = up.received.slice(before);
  t.same(seen.map((r) => r.method), ['PUT', 'GET']);
  t.same(seen.map((r) => r.url), ['/payments-reports/reports/2024%20q1%2Bfinal.csv?x-id=PutObject', '/payments-reports/reports/2024%20q1%2Bfinal.csv?x-id=GetObject'], 'the key path is forwarded exactly as the SDK encoded it');
  const checks = verified.slice(-2);
  t.same(checks.map((v) => v.ok), [true, true], `the upstream verified both signatures (${checks.map((v) => v.why ?? 'ok').join(', ')})`);
  t.same(checks.map((v) => v.accessKeyId), [REAL.accessKeyId, REAL.accessKeyId], 'signed with the real access key id');
  t.same(checks.map((v) => v.scope), ['eu-west-1/s3', 'eu-west-1/s3'], 'service from the host, region from the injection');
  for (const r of seen) {
    t.equal(r.headers['x-amz-security-token'], REAL.sessionToken, 'with the session token');
    t.equal(r.rawHeaders.filter((k) => k.toLowerCase() === 'authorization').length, 1, 'exactly one Authorization');
  }
  t.ok(checks[0]?.signedHeaders?.includes('x-amz-meta-owner'), 'the metadata header is covered by the signature');
  t.equal(seen[0]?.headers['x-amz-content-sha256'], createHash('sha256').update(content).digest('hex'), 'S3 payload hash of the forwarded body');
  t.equal(seen[0]?.body, content);
  t.notOk(everything().includes(PLACEHOLDER_KEY), 'the placeholder access key id never reached the upstream');
  t.notOk(everything().includes(PLACEHOLDER_SECRET));

  const decisions = h.logs.filter((l) => l.audit && (l.destination as { host?: string } | undefined)?.host === S3_HOST).slice(-2);
  t.same(decisions.map((l) => [l.decision, l.policy, (l.credential as { id: string }).id, l.status]), [
    ['allow', 'payments/to-s3', REAL.accessKeyId, 200],
    ['allow', 'payments/to-s3', REAL.accessKeyId, 200],
  ]);
  t.ok((decisions[0]?.stripped as string[]).includes('authorization'), 'the audit names the stripped placeholder signature');
  t.notOk(h.logText().includes(REAL.secretAccessKey) || h.logText().includes(REAL.sessionToken), 'no secret in the logs');
});

t.test('a body above the signing limit gets 413 and reaches no upstream', async (t) => {
  const before = { received: up.received.length, heads: up.heads, verified: verified.length };
  const err = (await s3.send(new PutObjectCommand({ Bucket: 'payments-reports', Key: 'big.bin', Body: Buffer.alloc(SIGNING_LIMIT + 1, 7) })).then(
    () => null,
    (e: unknown) => e,
  )) as { $metadata?: { httpStatusCode?: number } } | null;
  t.equal(err?.$metadata?.httpStatusCode, 413, 'the SDK got 413');
  t.equal(up.received.length, before.received, 'no request reached the upstream');
  t.equal(up.heads, before.heads, 'not even its head');
  t.equal(verified.length, before.verified);
  const last = h.logs.filter((l) => l.audit).at(-1);
  t.equal(last?.status, 413);
  t.equal(last?.reason, 'body-too-large');

  const ok = await s3.send(new PutObjectCommand({ Bucket: 'payments-reports', Key: 'exact.bin', Body: Buffer.alloc(SIGNING_LIMIT, 7) }));
  t.equal(ok.$metadata.httpStatusCode, 200, 'a body of exactly the limit is signed and forwarded');
  t.equal(verified.at(-1)?.ok, true);
});

/** One request from a hand-written client with a placeholder SigV4 header, through the capture. */
function rawRequest(host: string, method: string, path: string, headers: Record<string, string>, body: string): Promise<{ status: number; text: string; error: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host, port: up.port, method, path, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text, error: res.headers['x-mayfly-error'] as string | undefined }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

t.test('another service: signing name from the host, region from the policy, not from the placeholder', async (t) => {
  const placeholder = `AWS4-HMAC-SHA256 Credential=${PLACEHOLDER_KEY}/20200101/us-west-2/wrongservice/aws4_request, SignedHeaders=host;x-amz-date, Signature=${'0'.repeat(64)}`;
  const body = '{"Limit":10}';
  const r = await rawRequest(DDB_HOST, 'POST', '/', { authorization: placeholder, 'x-amz-date': '20200101T000000Z', 'x-amz-security-token': 'app-token', 'x-amz-target': 'DynamoDB_20120810.ListTables', 'content-type': 'application/x-amz-json-1.0' }, body);
  t.equal(r.status, 200, r.text);
  const v = verified.at(-1) as Verified;
  t.equal(v.ok, true, 'valid signature');
  t.equal(v.scope, 'eu-west-1/dynamodb');
  t.ok(v.signedHeaders?.includes('x-amz-target'), 'the app x-amz-target is signed and kept');
  const seen = up.received.at(-1);
  t.equal(seen?.headers['x-amz-security-token'], REAL.sessionToken, "the app's session token was replaced");
  t.not(seen?.headers['x-amz-date'], '20200101T000000Z', "the app's date was replaced");
  t.equal(seen?.body, body);
});

t.test('a chunk-signed streaming upload cannot be signed again: 400, nothing forwarded', async (t) => {
  const before = up.received.length;
  const r = await rawRequest(S3_HOST, 'PUT', '/payments-reports/stream.bin', { authorization: `AWS4-HMAC-SHA256 Credential=${PLACEHOLDER_KEY}/20200101/eu-west-1/s3/aws4_request, SignedHeaders=host, Signature=${'0'.repeat(64)}`, 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'x-amz-decoded-content-length': '5' }, '5;chunk-signature=00\r\nhello\r\n0;chunk-signature=00\r\n\r\n');
  t.equal(r.status, 400);
  t.equal(r.error, 'ERR_SIGV4_STREAMING_PAYLOAD');
  t.match(r.text, /chunk-signed streaming uploads cannot be re-signed/);
  t.equal(up.received.length, before);
});

t.test("a presigned URL of the app: its query signature is dropped and the request signed with the pod's credentials", async (t) => {
  await s3.send(new PutObjectCommand({ Bucket: 'payments-reports', Key: 'presigned.txt', Body: 'presigned body' }));
  const presigned = `/payments-reports/presigned.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${PLACEHOLDER_KEY}%2F20200101%2Fus-west-2%2Fs3%2Faws4_request&X-Amz-Date=20200101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=${'0'.repeat(64)}&x-id=GetObject`;
  const r = await rawRequest(S3_HOST, 'GET', presigned, {}, '');
  t.equal(r.status, 200, r.text);
  t.equal(r.text, 'presigned body');
  t.equal(up.received.at(-1)?.url, '/payments-reports/presigned.txt?x-id=GetObject', 'only the non-signature parameters crossed');
  t.same([verified.at(-1)?.ok, verified.at(-1)?.accessKeyId, verified.at(-1)?.scope], [true, REAL.accessKeyId, 'eu-west-1/s3']);
  t.notOk(everything().includes(PLACEHOLDER_KEY));
});
