// Responses the sidecar writes itself: a status, stable headers saying it was
// the sidecar, and a one-line body that says why.
import type { ServerResponse } from 'node:http';

export interface SidecarError {
  status: number;
  /** Stable code, e.g. "framing", "policy-denied", "ERR_CREDENTIAL_UNAVAILABLE". */
  code: string;
  message: string;
  policy?: string;
  /** Close the client connection afterwards (framing may be out of sync). */
  close?: boolean;
}

export function writeError(res: ServerResponse, e: SidecarError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = `mayfly: ${e.message}${e.policy ? ` (policy ${e.policy})` : ''}\n`;
  const headers: Record<string, string> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'x-mayfly-error': e.code,
    'cache-control': 'no-store',
  };
  if (e.close) headers.connection = 'close';
  res.writeHead(e.status, headers);
  res.end(body);
  if (e.close) res.once('finish', () => res.socket?.end());
}
