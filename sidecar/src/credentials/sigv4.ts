// Re-signs an app's AWS request with the pod's real temporary credentials.
// Apps that use an AWS SDK run with placeholder credentials (the webhook sets
// them so the SDK sends requests at all); their signature is worthless and is
// stripped here together with every signing header and presigned-URL query
// parameter, and the request is signed again with SigV4 (@smithy/signature-v4,
// the signer of the AWS SDK for JavaScript).
//
// The caller forwards exactly `target` and `headers` from the result.
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentials } from '../contracts.ts';

export interface AwsRequest {
  method: string;
  /** host[:port] the request goes to (the canonical authority the policy matched). */
  authority: string;
  /** Origin-form target as it will be forwarded: path and optional query. */
  target: string;
  /** The app's headers (after the pipeline removed hop-by-hop ones). */
  headers: Record<string, string | string[] | undefined>;
  /** The body when the pipeline has it; omit for a request without a body (or an S3 request with an unsigned payload). */
  body?: Uint8Array | string;
}

export interface SignOptions {
  /** The signing region (the policy's). */
  region: string;
  /** The signing name (the policy's); else guessed from the host. */
  service?: string;
  signingDate: Date;
}

export interface SignedAwsRequest {
  target: string;
  /** Every header to send, lowercase names, including authorization and x-amz-date. */
  headers: Record<string, string>;
  /** The credential scope used, for audit. */
  scope: { region: string; service: string };
}

export type SigV4ErrorCode = 'ERR_SIGV4_STREAMING_PAYLOAD' | 'ERR_SIGV4_UNKNOWN_SERVICE' | 'ERR_SIGV4_MALFORMED';

export class SigV4Error extends Error {
  readonly code: SigV4ErrorCode;
  constructor(code: SigV4ErrorCode, message: string) {
    super(message);
    this.name = 'SigV4Error';
    this.code = code;
  }
}

/** Headers that carry a signature or credentials; only the sidecar sets them. */
const STRIPPED_HEADERS = new Set(['authorization', 'x-amz-date', 'x-amz-security-token', 'x-amz-signature']);
/** Query parameters of presigned URLs. */
const STRIPPED_QUERY = new Set(['x-amz-algorithm', 'x-amz-credential', 'x-amz-date', 'x-amz-expires', 'x-amz-signedheaders', 'x-amz-signature', 'x-amz-security-token']);
const UNSIGNED = new Set(['UNSIGNED-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']);

function bytes(d: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof d === 'string') return d;
  if (ArrayBuffer.isView(d)) return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  return new Uint8Array(d);
}

/** SHA-256 and HMAC-SHA256 from node:crypto in the shape the smithy signer expects. */
class NodeSha256 {
  #hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

/** The signing name guessed from an AWS host name. */
export function serviceFromHost(authority: string): string | undefined {
  const host = authority.replace(/:\d+$/, '').toLowerCase();
  const m = /^(.*)\.amazonaws\.com(\.cn)?$/.exec(host);
  if (!m || !m[1]) return undefined;
  const labels = m[1].split('.');
  if (labels.some((l) => l === 's3' || l.startsWith('s3-') || l === 's3-control')) return 's3';
  const regionAt = labels.findIndex((l) => /^[a-z]{2}(-[a-z]+)+-\d+$/.test(l));
  if (regionAt > 0) return labels[regionAt - 1];
  return labels[labels.length - 1];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new SigV4Error('ERR_SIGV4_MALFORMED', 'malformed percent-encoding in query');
  }
}

function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf('?');
  return q === -1 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

/** Signers by credentials and scope: each caches its derived signing key for the day. */
const signers = new Map<string, SignatureV4>();
const MAX_SIGNERS = 64;

function signerFor(credentials: AwsCredentials, region: string, service: string): SignatureV4 {
  const key = `${credentials.accessKeyId}\n${credentials.secretAccessKey}\n${credentials.sessionToken}\n${region}\n${service}`;
  let signer = signers.get(key);
  if (!signer) {
    signer = new SignatureV4({
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey, ...(credentials.sessionToken ? { sessionToken: credentials.sessionToken } : {}) },
      region,
      service,
      sha256: NodeSha256,
      // S3 signs the path exactly as sent; every other service normalises and double-encodes it.
      uriEscapePath: service !== 's3',
      applyChecksum: false,
    });
    if (signers.size >= MAX_SIGNERS) signers.delete(signers.keys().next().value as string);
    signers.set(key, signer);
  }
  return signer;
}

export async function signAwsRequest(req: AwsRequest, credentials: AwsCredentials, opts: SignOptions): Promise<SignedAwsRequest> {
  const { path, query } = splitTarget(req.target);
  const lower: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    const v = headerValue(value);
    if (v !== undefined) lower[name.toLowerCase()] = v;
  }
  // The app's placeholder signature chooses nothing: scope comes from the policy and the host.
  const service = opts.service ?? serviceFromHost(req.authority);
  if (!service) throw new SigV4Error('ERR_SIGV4_UNKNOWN_SERVICE', 'cannot tell the aws service to sign for');
  const region = opts.region;

  const keptQuery = query === '' ? [] : query.split('&').filter((p) => p !== '' && !STRIPPED_QUERY.has((p.split('=')[0] ?? '').toLowerCase()));
  const queryObject: Record<string, string | string[]> = {};
  for (const part of keptQuery) {
    const eq = part.indexOf('=');
    const k = safeDecode(eq === -1 ? part : part.slice(0, eq));
    const v = eq === -1 ? '' : safeDecode(part.slice(eq + 1));
    const prev = queryObject[k];
    queryObject[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }

  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(lower)) {
    if (!STRIPPED_HEADERS.has(name)) headers[name] = value;
  }
  headers.host = req.authority;
  const claimed = headers['x-amz-content-sha256'];
  if (claimed !== undefined && claimed.startsWith('STREAMING-') && !UNSIGNED.has(claimed)) {
    throw new SigV4Error('ERR_SIGV4_STREAMING_PAYLOAD', 'chunk-signed streaming uploads cannot be re-signed');
  }
  if (claimed === undefined || !UNSIGNED.has(claimed)) {
    if (req.body !== undefined) {
      const hash = createHash('sha256').update(req.body).digest('hex');
      if (claimed !== undefined || service === 's3') headers['x-amz-content-sha256'] = hash;
    } else if (claimed === undefined && service === 's3') {
      headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
    }
  }

  const signer = signerFor(credentials, region, service);
  const [hostname, port] = req.authority.split(/:(?=\d+$)/);
  const signed = await signer.sign(
    {
      method: req.method.toUpperCase(),
      protocol: 'https:',
      hostname: hostname ?? req.authority,
      ...(port ? { port: Number(port) } : {}),
      path,
      query: queryObject,
      headers,
      ...(req.body !== undefined ? { body: req.body } : {}),
    },
    { signingDate: opts.signingDate },
  );
  return {
    target: keptQuery.length > 0 ? `${path}?${keptQuery.join('&')}` : path,
    headers: Object.fromEntries(Object.entries(signed.headers).map(([k, v]) => [k.toLowerCase(), String(v)])),
    scope: { region, service },
  };
}
