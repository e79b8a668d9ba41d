// What AWS does with a SigV4-signed request, for fakes of AWS services: find the
// access key, check the session token and the date, and recompute the signature
// from exactly the headers the request says it signed (AWS Signature Version 4,
// "Create a signed AWS API request" in the IAM user guide).
import { createHash } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';

/** The parts of a received request the check reads (a node:http IncomingMessage has them). */
export interface SignedRequest {
  method?: string | undefined;
  url?: string | undefined;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
}

export interface Verified {
  ok: boolean;
  why?: string;
  accessKeyId?: string;
  scope?: string;
  signedHeaders?: string[];
}

/** Recomputes the SigV4 signature of a received request, as AWS would. */
export async function verifySigV4(req: SignedRequest, body: Buffer, secrets: Record<string, { secret: string; token: string }>): Promise<Verified> {
  const auth = String(req.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([a-z0-9-]+)\/([a-z0-9-]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m) return { ok: false, why: 'no sigv4 authorization header' };
  const [, akid, day, region, service, signedList, signature] = m as unknown as [string, string, string, string, string, string, string];
  const base = { accessKeyId: akid, scope: `${region}/${service}`, signedHeaders: signedList.split(';') };
  const known = secrets[akid];
  if (!known) return { ...base, ok: false, why: 'InvalidAccessKeyId' };
  const amzDate = String(req.headers['x-amz-date'] ?? '');
  const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate);
  if (!dm || !amzDate.startsWith(day)) return { ...base, ok: false, why: 'bad x-amz-date' };
  const signingDate = new Date(`${dm[1]}-${dm[2]}-${dm[3]}T${dm[4]}:${dm[5]}:${dm[6]}Z`);
  if (Math.abs(signingDate.getTime() - Date.now()) > 15 * 60_000) return { ...base, ok: false, why: 'RequestTimeTooSkewed' };
  if (req.headers['x-amz-security-token'] !== known.token) return { ...base, ok: false, why: 'InvalidToken' };
  for (const required of ['host', 'x-amz-date', 'x-amz-security-token']) if (!base.signedHeaders.includes(required)) return { ...base, ok: false, why: `${required} not signed` };
  const claimed = req.headers['x-amz-content-sha256'];
  if (typeof claimed === 'string' && claimed !== 'UNSIGNED-PAYLOAD' && claimed !== createHash('sha256').update(body).digest('hex')) return { ...base, ok: false, why: 'XAmzContentSHA256Mismatch' };
  // Only the headers the signature names, with the values received.
  const headers: Record<string, string> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = (req.rawHeaders[i] as string).toLowerCase();
    if (!base.signedHeaders.includes(k)) continue;
    const v = (req.rawHeaders[i + 1] as string).trim().replace(/\s+/g, ' ');
    headers[k] = k in headers ? `${headers[k]},${v}` : v;
  }
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const query: Record<string, string | string[]> = {};
  if (q >= 0) {
    for (const part of url.slice(q + 1).split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      const k = decodeURIComponent(eq < 0 ? part : part.slice(0, eq));
      const v = eq < 0 ? '' : decodeURIComponent(part.slice(eq + 1));
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
  }
  const signer = new SignatureV4({ credentials: { accessKeyId: akid, secretAccessKey: known.secret, sessionToken: known.token }, region, service, sha256: Sha256, uriEscapePath: service !== 's3', applyChecksum: false });
  const [hostname, port] = String(req.headers.host).split(/:(?=\d+$)/);
  const expected = await signer.sign({ method: req.method ?? 'GET', protocol: 'https:', hostname: hostname as string, ...(port ? { port: Number(port) } : {}), path: q < 0 ? url : url.slice(0, q), query, headers, body }, { signingDate });
  const sig = /Signature=([0-9a-f]{64})/.exec(String(expected.headers.authorization))?.[1];
  return sig === signature ? { ...base, ok: true } : { ...base, ok: false, why: 'SignatureDoesNotMatch' };
}
