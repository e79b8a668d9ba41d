// The sidecar's runtime configuration, whatever it comes from: a local file
// (sidecar-config.ts, which brings ajv and YAML) or a pod's environment
// (cli/src/sidecar-cluster.ts, which must not load them).
import type { PodIdentity } from '../contracts.ts';

export interface SidecarConfig {
  identity: PodIdentity;
  listeners: {
    /** Address the transparent listeners bind ("::" is dual-stack). */
    address: string;
    transparent: Array<{ captures: number; port: number }>;
    proxy: { port: number; address: string } | null;
    admin: { port: number; address: string } | null;
  };
  trustDir: string;
  /** Extra PEM roots trusted for every upstream (contents, not paths). */
  upstreamCa: string[];
  ca: { lifetimeMs: number; leafLifetimeMs: number; maxLeaves: number; nameConstraints: boolean };
  limits: {
    maxHeaderBytes: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    peekTimeoutMs: number;
    maxConnections: number;
    maxSignedBodyBytes: number;
    upstreamTimeoutMs: number;
    drainTimeoutMs: number;
    dnsCacheMs: number;
  };
  logLevel: string;
}

export const DEFAULT_LIMITS: SidecarConfig['limits'] = {
  maxHeaderBytes: 32 * 1024,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 60_000,
  peekTimeoutMs: 10_000,
  maxConnections: 8192,
  maxSignedBodyBytes: 16 * 1024 * 1024,
  upstreamTimeoutMs: 60_000,
  drainTimeoutMs: 20_000,
  dnsCacheMs: 5_000,
};
