// The questions asked of a pod before anything is injected, each a small named
// pure check: skip it (admitted unchanged, never granted anything) or refuse
// it (injecting would be bypassable or ambiguous).
import { STATUS_ANNOTATION } from '@mayfly/crds';
import { annotationsOf, quote } from './options.ts';
import { CA_DIR, CA_VOLUME, RESERVED_CONTAINER_NAMES, RESERVED_VOLUME_NAMES } from './paths.ts';
import type { CaptureMode, Container, InjectSettings, Pod, Refusal, SkipReason } from './types.ts';

export const PROTECTED_NAMESPACES: readonly string[] = ['kube-system'];

export function protectedNamespace(pod: Pod, settings: InjectSettings): SkipReason | undefined {
  const ns = pod.metadata?.namespace ?? '';
  if (ns === settings.mayflyNamespace || PROTECTED_NAMESPACES.includes(ns)) {
    return { code: 'ProtectedNamespace', message: `namespace ${ns} is never injected` };
  }
  return undefined;
}

export function hostNetwork(pod: Pod): SkipReason | undefined {
  if (pod.spec?.hostNetwork === true) {
    return { code: 'HostNetwork', message: 'pod uses the host network: capture would change the node, so it is not injected and gets no credentials' };
  }
  return undefined;
}

export function unsupportedOS(pod: Pod): SkipReason | undefined {
  const os = pod.spec?.os?.name;
  if (os !== undefined && os !== 'linux') return { code: 'UnsupportedOS', message: `pod runs on ${os}: the sidecar runs only on linux` };
  return undefined;
}

/** Every container the pod author wrote (Mayfly's own excluded by name). */
export function userContainers(pod: Pod): Array<{ container: Container; kind: 'container' | 'init container' }> {
  const spec = pod.spec;
  const init = (spec?.initContainers ?? []).map((container) => ({ container, kind: 'init container' as const }));
  const main = (spec?.containers ?? []).map((container) => ({ container, kind: 'container' as const }));
  return [...init, ...main].filter((c) => !RESERVED_CONTAINER_NAMES.includes(c.container.name));
}

export function hasStatus(pod: Pod): boolean {
  return Object.hasOwn(annotationsOf(pod), STATUS_ANNOTATION);
}

/**
 * A pod that uses Mayfly's container or volume names without carrying the
 * status annotation did not come from the webhook: refuse rather than guess.
 * With the annotation, those parts are replaced by the real ones.
 */
export function reservedNames(pod: Pod): Refusal | undefined {
  if (hasStatus(pod)) return undefined;
  const spec = pod.spec;
  for (const c of [...(spec?.initContainers ?? []), ...(spec?.containers ?? [])]) {
    if (RESERVED_CONTAINER_NAMES.includes(c.name)) {
      return { code: 'ReservedContainerName', message: `container name ${c.name} is reserved for Mayfly; rename the container` };
    }
  }
  for (const v of spec?.volumes ?? []) {
    if (RESERVED_VOLUME_NAMES.includes(v.name)) {
      return { code: 'ReservedVolumeName', message: `volume name ${v.name} is reserved for Mayfly; rename the volume` };
    }
  }
  return undefined;
}

/** The one mount of a Mayfly volume an app container gets: the CA, read-only. */
export function isCaMount(m: { name: string; mountPath: string; readOnly?: boolean; subPath?: string; subPathExpr?: string }): boolean {
  return m.name === CA_VOLUME && m.mountPath === CA_DIR && m.readOnly === true && !m.subPath && !m.subPathExpr;
}

/** App containers never mount the sidecar's volumes (its tokens above all). */
export function sidecarVolumeMounts(pod: Pod): Refusal | undefined {
  for (const { container, kind } of userContainers(pod)) {
    for (const m of container.volumeMounts ?? []) {
      if (RESERVED_VOLUME_NAMES.includes(m.name) && !isCaMount(m)) {
        return { code: 'SidecarVolumeMount', message: `${kind} ${container.name} mounts Mayfly's volume ${m.name}; only the sidecar may` };
      }
    }
    for (const d of container.volumeDevices ?? []) {
      if (RESERVED_VOLUME_NAMES.includes(d.name)) {
        return { code: 'SidecarVolumeMount', message: `${kind} ${container.name} uses Mayfly's volume ${d.name} as a device` };
      }
    }
  }
  return undefined;
}

function effectiveUid(pod: Pod, c: Container): number | undefined {
  return c.securityContext?.runAsUser ?? pod.spec?.securityContext?.runAsUser;
}

/**
 * The sidecar's UID is exempt from capture and owns the token files: no app
 * container may run as it, in either mode (with a shared process namespace the
 * same UID could read the sidecar's memory).
 */
export function sidecarUid(pod: Pod, settings: InjectSettings): Refusal | undefined {
  for (const { container, kind } of userContainers(pod)) {
    if (effectiveUid(pod, container) === settings.sidecarUid) {
      return { code: 'SidecarUid', message: `${kind} ${container.name} runs as UID ${settings.sidecarUid}, which is reserved for the Mayfly sidecar; choose another runAsUser` };
    }
  }
  return undefined;
}

function capabilityName(cap: string): string {
  return cap.toUpperCase().replace(/^CAP_/, '');
}

const CAPTURE_CAPABILITIES = ['NET_ADMIN', 'NET_RAW', 'ALL'];
const PROCESS_CAPABILITIES = ['SYS_PTRACE', 'ALL'];

/**
 * In transparent mode, NET_ADMIN, NET_RAW or privilege lets an app rewrite or
 * dodge the capture rules. With a shared process namespace, privilege or
 * SYS_PTRACE lets it read the sidecar's memory in either mode.
 */
export function captureBypass(pod: Pod, mode: CaptureMode): Refusal | undefined {
  const sharedPid = pod.spec?.shareProcessNamespace === true;
  for (const { container, kind } of userContainers(pod)) {
    const added = (container.securityContext?.capabilities?.add ?? []).map(capabilityName);
    if (container.securityContext?.privileged === true && (mode === 'transparent' || sharedPid)) {
      return { code: 'Privileged', message: `${kind} ${container.name} is privileged and could bypass the Mayfly sidecar; use explicit mode or drop privileged` };
    }
    const capture = mode === 'transparent' ? added.find((c) => CAPTURE_CAPABILITIES.includes(c)) : undefined;
    if (capture) {
      return { code: 'CaptureCapability', message: `${kind} ${container.name} adds capability ${quote(capture)}, which could bypass traffic capture; drop it or use explicit mode` };
    }
    const ptrace = sharedPid ? added.find((c) => PROCESS_CAPABILITIES.includes(c)) : undefined;
    if (ptrace) {
      return { code: 'CaptureCapability', message: `${kind} ${container.name} adds capability ${quote(ptrace)} in a shared process namespace, which could read the sidecar's memory` };
    }
  }
  return undefined;
}
