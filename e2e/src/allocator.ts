// The allocator the image runs the sidecar on: the Dockerfile's `mayfly`
// wrapper preloads jemalloc with this configuration (one arena, freed pages
// returned within a second). Here it is Debian's libjemalloc2, which
// scripts/setup.sh installs; the e2e kubelet's shim and the benchmark run the
// sidecar with it, as the image does.
import { existsSync } from 'node:fs';

export const SIDECAR_MALLOC_CONF = 'narenas:1,dirty_decay_ms:1000,muzzy_decay_ms:0';

const CANDIDATES = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2', '/usr/lib/libjemalloc.so.2'];

/** jemalloc's path on this machine, or null when it is not installed (the sidecar then runs on glibc's malloc). */
export const JEMALLOC: string | null = CANDIDATES.find((p) => existsSync(p)) ?? null;

/** The environment that puts the sidecar on jemalloc, or nothing. */
export function sidecarAllocatorEnv(): Record<string, string> {
  return JEMALLOC ? { LD_PRELOAD: JEMALLOC, MALLOC_CONF: SIDECAR_MALLOC_CONF } : {};
}
