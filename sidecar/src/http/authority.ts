// Canonical form of a request authority (Host header, absolute-form target or
// TLS server name). Pure. Anything ambiguous is refused rather than guessed:
// userinfo, percent-encoding, non-ASCII, empty labels, numeric host encodings
// other than a plain dotted quad, ports with signs or leading zeros.
import { isIPv4, isIPv6 } from 'node:net';

export interface Authority {
  /** Lowercase, no trailing dot; an IPv6 literal without brackets. */
  host: string;
  /** The explicit port, or null when the authority has none. */
  port: number | null;
  /** 0 for a DNS name, 4 or 6 for an IP literal. */
  ip: 0 | 4 | 6;
}

export type AuthorityResult = { ok: true; authority: Authority } | { ok: false; reason: string };

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** Canonicalises a DNS name or IP literal (no port). */
export function canonicalHost(raw: string): { ok: true; host: string; ip: 0 | 4 | 6 } | { ok: false; reason: string } {
  if (raw.length === 0) return { ok: false, reason: 'empty host' };
  if (raw.startsWith('[')) {
    if (!raw.endsWith(']')) return { ok: false, reason: 'unterminated IPv6 literal' };
    const inner = raw.slice(1, -1).toLowerCase();
    if (!isIPv6(inner) || inner.includes('%')) return { ok: false, reason: 'invalid IPv6 literal' };
    return { ok: true, host: inner, ip: 6 };
  }
  if (!/^[\x21-\x7e]+$/.test(raw)) return { ok: false, reason: 'host has spaces, control or non-ASCII characters' };
  if (/[@%/\\?#[\]:]/.test(raw)) return { ok: false, reason: 'host has userinfo, percent-encoding or delimiters' };
  let host = raw.toLowerCase();
  if (host.endsWith('.')) host = host.slice(0, -1);
  if (host.length === 0 || host.length > 253) return { ok: false, reason: 'host length out of range' };
  if (isIPv4(host)) return { ok: true, host, ip: 4 };
  const labels = host.split('.');
  for (const label of labels) if (!LABEL.test(label)) return { ok: false, reason: 'host has an empty or invalid label' };
  const last = labels[labels.length - 1] as string;
  if (/^(0x[0-9a-f]*|[0-9]+)$/.test(last)) return { ok: false, reason: 'host is a numeric address in a non-canonical encoding' };
  return { ok: true, host, ip: 0 };
}

/** Parses "host", "host:port", "[v6]" or "[v6]:port". */
export function parseAuthority(text: string): AuthorityResult {
  if (text.includes('@')) return { ok: false, reason: 'authority has userinfo' };
  let hostPart = text;
  let portPart: string | null = null;
  if (text.startsWith('[')) {
    const end = text.indexOf(']');
    if (end < 0) return { ok: false, reason: 'unterminated IPv6 literal' };
    hostPart = text.slice(0, end + 1);
    const rest = text.slice(end + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return { ok: false, reason: 'junk after IPv6 literal' };
      portPart = rest.slice(1);
    }
  } else {
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      hostPart = text.slice(0, colon);
      portPart = text.slice(colon + 1);
    }
  }
  let port: number | null = null;
  if (portPart !== null) {
    if (!/^[1-9][0-9]{0,4}$/.test(portPart) || Number(portPart) > 65535) return { ok: false, reason: 'invalid port' };
    port = Number(portPart);
  }
  const host = canonicalHost(hostPart);
  if (!host.ok) return host;
  return { ok: true, authority: { host: host.host, port, ip: host.ip } };
}

/** The Host header value to send upstream for a canonical authority. */
export function formatAuthority(host: string, port: number, defaultPort: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}
