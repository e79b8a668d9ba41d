// The inject pass: adds the credential as the policy says. Pure. Every value
// that reaches the upstream request is checked for CR, LF and NUL, whether it
// came from a policy or from a provider response (THREATS.md 8).
import type { CompiledInjection } from '@mayfly/crds';
import type { Credential } from '../contracts.ts';

export class InjectError extends Error {
  readonly code: 'ERR_CREDENTIAL_INVALID' | 'ERR_NO_SIGNER';
  constructor(code: 'ERR_CREDENTIAL_INVALID' | 'ERR_NO_SIGNER', message: string) {
    super(message);
    this.name = 'InjectError';
    this.code = code;
  }
}

const UNSAFE = /[\r\n\0]/;

export interface Injected {
  /** Headers to add (after the app's, already stripped of these names). */
  headers: Array<[string, string]>;
  /** The query to forward (null for none). */
  query: string | null;
}

/** Removes every parameter whose decoded name is `name` from a query string. */
export function removeQueryParameter(query: string | null, name: string): string | null {
  if (query === null) return null;
  const kept = query.split('&').filter((pair) => {
    const raw = pair.split('=')[0] as string;
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw.replace(/\+/g, ' '));
    } catch {
      return false; // an undecodable name could be ours in disguise
    }
    return decoded !== name;
  });
  return kept.length === 0 ? null : kept.join('&');
}

/** Header, query or basic injection. SigV4 is a signer's job (see RequestSigner). */
export function injectCredential(inject: CompiledInjection, credential: Credential, query: string | null): Injected {
  if (UNSAFE.test(credential.value)) throw new InjectError('ERR_CREDENTIAL_INVALID', 'credential value has CR, LF or NUL');
  switch (inject.kind) {
    case 'header': {
      const value = inject.format.split('{{token}}').join(credential.value);
      if (UNSAFE.test(value) || UNSAFE.test(inject.header)) throw new InjectError('ERR_CREDENTIAL_INVALID', 'injected header has CR, LF or NUL');
      return { headers: [[inject.header, value]], query };
    }
    case 'query': {
      const rest = removeQueryParameter(query, inject.parameter);
      const pair = `${encodeURIComponent(inject.parameter)}=${encodeURIComponent(credential.value)}`;
      return { headers: [], query: rest === null ? pair : `${rest}&${pair}` };
    }
    case 'basic': {
      if (UNSAFE.test(inject.username) || inject.username.includes(':')) throw new InjectError('ERR_CREDENTIAL_INVALID', 'basic username has ":", CR, LF or NUL');
      return { headers: [['Authorization', `Basic ${Buffer.from(`${inject.username}:${credential.value}`).toString('base64')}`]], query };
    }
    case 'awsSigV4':
      throw new InjectError('ERR_NO_SIGNER', 'awsSigV4 injection needs a request signer');
  }
}

/** The header name a policy's injection sets, lowercase, for the strip pass. */
export function injectedHeaderName(inject: CompiledInjection): string | null {
  if (inject.kind === 'header') return inject.header.toLowerCase();
  if (inject.kind === 'basic') return 'authorization';
  if (inject.kind === 'awsSigV4') return 'authorization';
  return null;
}

/**
 * Signs a request for `awsSigV4` policies (the adapter is pipeline/aws-signer.ts).
 * Receives the request as it would be forwarded (the app's headers already
 * stripped of its placeholder signature, Content-Length exact) and returns the
 * complete header list and query to forward instead: a signature covers them,
 * so nothing may be added or changed afterwards (Host is the pipeline's, and
 * equal to `host`).
 */
export interface RequestToSign {
  method: string;
  /** The Host header that will be sent: the canonical authority. */
  host: string;
  path: string;
  query: string | null;
  headers: Array<[string, string]>;
  body: Buffer;
  /** Signing time, epoch milliseconds. */
  now: number;
}
export interface SignedRequest {
  headers: Array<[string, string]>;
  query: string | null;
}
export type RequestSigner = (req: RequestToSign, credential: Credential, inject: Extract<CompiledInjection, { kind: 'awsSigV4' }>) => Promise<SignedRequest>;
