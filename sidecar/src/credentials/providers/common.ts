// What every provider shares: the pod's identity, its projected tokens, the
// HTTPS client settings, and the mapping of a remote refusal or failure to the
// credential layer's error codes.
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { CredentialError } from '../../contracts.ts';
import { HttpError, httpRequest, type HttpClientOptions, type HttpRequest, type HttpResponse } from '../http.ts';
import type { TokenSource } from '../token-source.ts';

export interface ProviderContext {
  tokens: TokenSource;
  /** This pod, for session names and checking what the broker issued. */
  identity: { namespace: string; name: string; uid: string; serviceAccount: string };
  now: () => number;
  /** PEM certificates trusted for every provider endpoint in addition to the system roots (a provider's caBundle adds to it). */
  extraCA?: string;
  timeoutMs?: number;
  logger?: Logger;
}

export function httpOptions(ctx: ProviderContext, caBundle?: string): HttpClientOptions {
  const ca = [ctx.extraCA, caBundle].filter((c): c is string => !!c).join('\n');
  return { ...(ca ? { ca } : {}), timeoutMs: ctx.timeoutMs ?? 10_000 };
}

/** A request whose network failure becomes ERR_CREDENTIAL_UNAVAILABLE. */
export async function call(url: string, req: HttpRequest, opts: HttpClientOptions, what: string): Promise<HttpResponse> {
  try {
    return await httpRequest(url, req, opts);
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason ?? err;
    throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `${what}: ${err instanceof HttpError ? err.code : 'request failed'}`, { cause: err });
  }
}

/** OAuth errors that mean "this pod may not have it" rather than "try again later". */
const REFUSALS = new Set(['invalid_grant', 'invalid_client', 'unauthorized_client', 'access_denied', 'invalid_target', 'invalid_scope', 'invalid_request', 'unsupported_grant_type']);

/** Maps a non-2xx OAuth (RFC 6749 section 5.2) response to a CredentialError. */
export function oauthFailure(res: HttpResponse, what: string): CredentialError {
  let error = '';
  try {
    const body = JSON.parse(res.body) as { error?: unknown };
    if (typeof body.error === 'string') error = body.error;
  } catch {
    // not JSON
  }
  const safe = /^[a-z_]{1,64}$/.test(error) ? error : '';
  if (res.status === 429 || res.status >= 500 || safe === 'temporarily_unavailable' || safe === 'server_error') {
    return new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `${what}: http ${res.status}${safe ? ` ${safe}` : ''}`);
  }
  if (REFUSALS.has(safe) || res.status === 401 || res.status === 403) return new CredentialError('ERR_CREDENTIAL_DENIED', `${what}: ${safe || `http ${res.status}`}`);
  return new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `${what}: http ${res.status}`);
}

export function parseJSON(res: HttpResponse, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(res.body) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `${what}: response is not a json object`);
}

/** A value that may be put into an HTTP header: no control characters (THREATS.md class 8). */
export function headerSafe(value: unknown, what: string): string {
  if (typeof value !== 'string' || value === '' || value.length > 16_384 || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new CredentialError('ERR_CREDENTIAL_UNAVAILABLE', `${what}: credential missing or not header-safe`);
  }
  return value;
}

/** A positive number of seconds, or the fallback. */
export function seconds(value: unknown, fallback: number): number {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : fallback;
}

/**
 * An absolute expiry from a server with its own clock, moved onto ours: the
 * lifetime the server granted (expiry minus its Date header) counted from now.
 */
export function skewCorrected(serverExpiry: number, serverDate: number | null, localNow: number): number {
  return serverDate === null ? serverExpiry : localNow + (serverExpiry - serverDate);
}

/** A non-secret id for a secret value, for audit. */
export function fingerprint(prefix: string, secret: string): string {
  return `${prefix}:${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`;
}

export const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
