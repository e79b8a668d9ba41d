// The SigV4 signing hook of the pipeline: adapts a request as the pipeline
// forwards it to `signAwsRequest` of the credential layer and back. The
// signing name comes from the policy's injection, else from the host
// (service.region.amazonaws.com); the region always from the injection: the
// app's placeholder signature (header or presigned query) chooses nothing, and
// signAwsRequest drops presigned-URL parameters.
import { SigV4Error, signAwsRequest } from '../credentials/sigv4.ts';
import { InjectError, type RequestSigner, type SignedRequest } from '../http/inject.ts';

export const awsRequestSigner: RequestSigner = async (req, credential, inject): Promise<SignedRequest> => {
  if (!credential.aws) throw new InjectError('ERR_CREDENTIAL_INVALID', 'the policy signs with SigV4 but its credential has no aws keys');
  const headers: Record<string, string> = {};
  for (const [name, value] of req.headers) {
    const lower = name.toLowerCase();
    if (lower === 'host' || lower === 'authorization') continue; // the pipeline sets Host; the app's signature is a placeholder
    headers[lower] = lower in headers ? `${headers[lower]},${value}` : value;
  }
  const signed = await signAwsRequest(
    { method: req.method, authority: req.host, target: req.query === null ? req.path : `${req.path}?${req.query}`, headers, body: req.body },
    credential.aws,
    { region: inject.region, ...(inject.service ? { service: inject.service } : {}), signingDate: new Date(req.now) },
  );
  const out: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(signed.headers)) if (name !== 'host') out.push([name, value]);
  const q = signed.target.indexOf('?');
  return { headers: out, query: q < 0 ? null : signed.target.slice(q + 1) };
};

/** The response a signing failure gets: the app's request shape (400) or the policy (502). */
export function signerFailure(err: unknown): { status: number; code: string; message: string } | null {
  if (err instanceof SigV4Error) {
    const status = err.code === 'ERR_SIGV4_UNKNOWN_SERVICE' ? 502 : 400;
    return { status, code: err.code, message: `cannot sign this request: ${err.message}` };
  }
  if (err instanceof InjectError) return { status: 502, code: err.code, message: `credential not usable: ${err.message}` };
  return null;
}
