// An unmodified AWS SDK application: it uploads and reads back an object with
// whatever credentials the environment gives it (in an injected pod, the
// webhook's placeholders), exactly as an app written for AWS would.
//   node e2e/src/apps/s3-app.ts BUCKET KEY TEXT
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';

const [bucket, key, text] = process.argv.slice(2) as [string, string, string];
const s3 = new S3Client({ region: process.env.AWS_REGION ?? 'us-east-1' });
try {
  await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: text, ContentType: 'text/plain' }));
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  console.log(`read back: ${await got.Body?.transformToString()}`);
} catch (err) {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  console.log(`error: ${e.name} ${e.$metadata?.httpStatusCode ?? ''} ${e.message}`);
  process.exitCode = 1;
}
