// Helpers the builders share: find the containers a change applies to, and set
// env vars and mounts idempotently (replace by name in place, else append).
import type { V1EnvVar, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { RESERVED_CONTAINER_NAMES } from '../paths.ts';
import type { Container, Plan, Pod } from '../types.ts';

/**
 * The containers that run behind the sidecar: every app container, and with a
 * native sidecar the pod's own init containers too (they start after it). In the
 * fallback they run before capture and the CA exists, so they are left alone.
 */
export function appContainers(pod: Pod, plan: Plan): Container[] {
  const spec = pod.spec;
  if (!spec) return [];
  const init = plan.native ? (spec.initContainers ?? []) : [];
  return [...init, ...spec.containers].filter((c) => !RESERVED_CONTAINER_NAMES.includes(c.name));
}

export function setEnv(container: Container, vars: V1EnvVar[]): void {
  const env = (container.env ??= []);
  for (const v of vars) {
    const i = env.findIndex((e) => e.name === v.name);
    if (i >= 0) env[i] = v;
    else env.push(v);
  }
}

export function setMount(container: Container, mount: V1VolumeMount): void {
  const mounts = (container.volumeMounts ??= []);
  const i = mounts.findIndex((m) => m.mountPath === mount.mountPath);
  if (i >= 0) mounts[i] = mount;
  else mounts.push(mount);
}

export function addVolume(pod: Pod, volume: V1Volume): void {
  const spec = pod.spec as NonNullable<Pod['spec']>;
  const volumes = (spec.volumes ??= []);
  const i = volumes.findIndex((v) => v.name === volume.name);
  if (i >= 0) volumes[i] = volume;
  else volumes.push(volume);
}

export function literal(name: string, value: string): V1EnvVar {
  return { name, value };
}
