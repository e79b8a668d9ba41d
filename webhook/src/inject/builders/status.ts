// The mayfly.dev/status annotation: what was injected, so admitting an injected
// pod again gives an empty patch and people can see what Mayfly did.
import { STATUS_ANNOTATION } from '@mayfly/crds';
import { RESERVED_CONTAINER_NAMES, RESERVED_VOLUME_NAMES } from '../paths.ts';
import type { InjectionStatus, Plan, Pod } from '../types.ts';

export function injectionStatus(pod: Pod, plan: Plan): InjectionStatus {
  const spec = pod.spec as NonNullable<Pod['spec']>;
  const ours = (names: Array<{ name: string }> | undefined, reserved: readonly string[]) => (names ?? []).map((n) => n.name).filter((n) => reserved.includes(n));
  return {
    version: 1,
    mode: plan.options.mode,
    native: plan.native,
    image: plan.settings.image,
    initContainers: ours(spec.initContainers, RESERVED_CONTAINER_NAMES),
    containers: ours(spec.containers, RESERVED_CONTAINER_NAMES),
    volumes: ours(spec.volumes, RESERVED_VOLUME_NAMES),
    audiences: plan.audiences,
  };
}

/** Runs last: it records what the other builders added. */
export function setStatus(pod: Pod, plan: Plan): void {
  const metadata = (pod.metadata ??= {});
  (metadata.annotations ??= {})[STATUS_ANNOTATION] = JSON.stringify(injectionStatus(pod, plan));
}
