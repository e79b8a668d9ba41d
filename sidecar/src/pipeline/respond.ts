// Responses the sidecar writes itself: a status, stable headers saying it was
// the sidecar, and a one-line body that says why.
import type { FrontResponse } from '../server/http1.ts';

export interface SidecarError {
  status: number;
  /** Stable code, e.g. "framing", "policy-denied", "ERR_CREDENTIAL_UNAVAILABLE". */
  code: string;
  message: string;
  policy?: string;
  /** Close the client connection afterwards (framing may be out of sync). */
  close?: boolean;
}

export function writeError(res: FrontResponse, e: SidecarError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (res.closed) return;
  const { headers, body } = errorResponse(e);
  if (e.close) res.shouldKeepAlive = false;
  res.writeHead(e.status, '', headers);
  res.end(body);
}

/** The headers (a flat name, value list) and the body of a response the sidecar makes itself. */
export function errorResponse(e: Pick<SidecarError, 'code' | 'message' | 'policy'>): { headers: string[]; body: string } {
  const body = `mayfly: ${e.message}${e.policy ? ` (policy ${e.policy})` : ''}\n`;
  return { headers: ['content-type', 'text/plain; charset=utf-8', 'content-length', String(Buffer.byteLength(body)), 'x-mayfly-error', e.code, 'cache-control', 'no-store'], body };
}
