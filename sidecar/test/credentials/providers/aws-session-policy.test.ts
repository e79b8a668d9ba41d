// The inline session policy derived from a WorkloadPolicy's S3 destinations.
import t from 'tap';
import { s3Bucket, sessionPolicy } from '../../../src/credentials/providers/aws-session-policy.ts';
import { compile } from '../helpers/provider-env.ts';

const policy = (destinations: string) =>
  compile(`
  subjects: { serviceAccounts: [payments-api] }
  destinations:
${destinations}
  credential:
    provider: { aws: { roleARN: "arn:aws:iam::123456789012:role/r", region: eu-central-1 } }
    inject: { awsSigV4: {} }
`);

t.test('bucket names from S3 hosts', async (t) => {
  const d = (host: string) => ({ host, wildcard: host.startsWith('*.'), ports: [443], methods: null, paths: null, plaintext: false, allowPrivateAddresses: false });
  t.equal(s3Bucket(d('invoices.s3.eu-central-1.amazonaws.com')), 'invoices');
  t.equal(s3Bucket(d('invoices.s3.amazonaws.com')), 'invoices');
  t.equal(s3Bucket(d('my.bucket.s3.dualstack.us-east-1.amazonaws.com')), 'my.bucket');
  t.equal(s3Bucket(d('s3.eu-central-1.amazonaws.com')), '', 'path style');
  t.equal(s3Bucket(d('*.s3.amazonaws.com')), null, 'a wildcard names no bucket');
  t.equal(s3Bucket(d('dynamodb.eu-central-1.amazonaws.com')), null);
  t.equal(s3Bucket(d('s3.amazonaws.com.evil.example')), null);
});

t.test('read-only access to one prefix', async (t) => {
  const p = JSON.parse(sessionPolicy(policy('    - { host: invoices.s3.eu-central-1.amazonaws.com, methods: [GET], paths: ["/2026/*"] }')) ?? 'null');
  t.same(p.Statement, [
    { Effect: 'Allow', Action: ['s3:GetObject'], Resource: ['arn:aws:s3:::invoices/2026/*'] },
    { Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::invoices'], Condition: { StringLike: { 's3:prefix': ['2026/*'] } } },
  ]);
});

t.test('exact objects, every method, path style', async (t) => {
  const p = JSON.parse(sessionPolicy(policy('    - { host: s3.eu-central-1.amazonaws.com, paths: ["/reports/summary.csv", "/exports/*"] }')) ?? 'null');
  t.same(p.Statement[0], { Effect: 'Allow', Action: ['s3:DeleteObject', 's3:GetObject', 's3:PutObject'], Resource: ['arn:aws:s3:::exports/*', 'arn:aws:s3:::reports/summary.csv'] });
  t.same(p.Statement.slice(1), [{ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: ['arn:aws:s3:::exports'] }], 'listing only the bucket whose every key is allowed');
});

t.test('other services keep the role\'s permissions; nothing to narrow means no session policy', async (t) => {
  const mixed = JSON.parse(sessionPolicy(policy('    - { host: invoices.s3.eu-central-1.amazonaws.com, methods: [PUT] }\n    - { host: dynamodb.eu-central-1.amazonaws.com }')) ?? 'null');
  t.same(mixed.Statement, [
    { Effect: 'Allow', Action: ['s3:PutObject'], Resource: ['arn:aws:s3:::invoices/*'] },
    { Effect: 'Allow', NotAction: 's3:*', Resource: '*' },
  ]);
  t.equal(sessionPolicy(policy('    - { host: dynamodb.eu-central-1.amazonaws.com }')), null);
});
