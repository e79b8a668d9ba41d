// Checks a request target for the encodings that let a proxy and an upstream
// disagree on the path (the Istio CVE-2021-31920 / -39156 class). Pure. Nothing
// is normalised: an ambiguous target is refused, so the decision is made on
// exactly the bytes that are forwarded.

export interface Target {
  /** The path exactly as received and forwarded. */
  path: string;
  /** The query without "?", or null. */
  query: string | null;
}

export type TargetResult = { ok: true; target: Target } | { ok: false; reason: string };

/** Splits an origin-form target; refuses only what no server accepts. */
export function splitTarget(target: string): TargetResult {
  if (!target.startsWith('/')) return { ok: false, reason: 'request target is not origin-form' };
  if (/[\x00-\x20\x7f-\uffff]/.test(target)) return { ok: false, reason: 'request target has control, space or non-ASCII characters' };
  if (target.includes('#')) return { ok: false, reason: 'request target has a fragment' };
  const q = target.indexOf('?');
  return { ok: true, target: q < 0 ? { path: target, query: null } : { path: target.slice(0, q), query: target.slice(q + 1) } };
}

/** Refuses every path encoding that an upstream could read differently from the sidecar. */
export function checkStrictPath(path: string): { ok: true } | { ok: false; reason: string } {
  if (path.includes('\\')) return { ok: false, reason: 'path has a backslash' };
  if (path.includes(';')) return { ok: false, reason: 'path has matrix parameters (";")' };
  const pct = /%(.{0,2})/g;
  for (let m = pct.exec(path); m; m = pct.exec(path)) {
    const hex = (m[1] as string).toLowerCase();
    if (!/^[0-9a-f]{2}$/.test(hex)) return { ok: false, reason: 'path has an invalid percent-encoding' };
    if (['2f', '5c', '2e', '00', '25', '3b', '3f', '23'].includes(hex)) return { ok: false, reason: `path has an encoded delimiter (%${hex})` };
  }
  const segments = path.split('/').slice(1);
  for (let i = 0; i < segments.length; i++) {
    const s = segments[i] as string;
    if (s === '.' || s === '..') return { ok: false, reason: 'path has a dot segment' };
    if (s === '' && i < segments.length - 1) return { ok: false, reason: 'path has an empty segment ("//")' };
  }
  return { ok: true };
}

/** Parses an absolute-form target ("http://host/path"). */
export function parseAbsoluteTarget(target: string): { ok: true; scheme: 'http' | 'https'; authority: string; rest: string } | { ok: false; reason: string } {
  const m = /^(https?):\/\/([^/?#]*)(.*)$/i.exec(target);
  if (!m) return { ok: false, reason: 'request target is not absolute-form http' };
  const rest = m[3] === '' ? '/' : (m[3] as string);
  if (!rest.startsWith('/')) return { ok: false, reason: 'absolute-form target has no path' };
  return { ok: true, scheme: (m[1] as string).toLowerCase() as 'http' | 'https', authority: m[2] as string, rest };
}
