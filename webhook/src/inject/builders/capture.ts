// The capture step (transparent mode): `mayfly init` writes the rules that
// redirect outbound traffic on the captured ports to the sidecar, exempting
// the sidecar's UID. It needs NET_ADMIN and NET_RAW as root, and nothing else.
import type { V1SecurityContext } from '@kubernetes/client-node';
import { INIT_COMMAND, INIT_CONTAINER_NAME } from '../paths.ts';
import type { Container, Plan, Pod } from '../types.ts';

export function captureSecurityContext(): V1SecurityContext {
  return {
    runAsUser: 0,
    runAsGroup: 0,
    runAsNonRoot: false,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

export function captureArgs(plan: Plan): string[] {
  const s = plan.settings;
  const cidrs = [...new Set([...s.excludeOutboundCidrs, ...plan.options.excludeOutboundCidrs])];
  const ports = [...new Set([...s.excludeOutboundPorts, ...plan.options.excludeOutboundPorts])].sort((a, b) => a - b);
  return [
    `--outbound-port=${s.ports.outbound}`,
    `--capture-ports=${s.capturePorts.join(',')}`,
    `--exclude-uid=${s.sidecarUid}`,
    ...(cidrs.length > 0 ? [`--exclude-cidrs=${cidrs.join(',')}`] : []),
    ...(ports.length > 0 ? [`--exclude-ports=${ports.join(',')}`] : []),
  ];
}

export function captureContainer(plan: Plan): Container {
  const s = plan.settings;
  return {
    name: INIT_CONTAINER_NAME,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    command: [...INIT_COMMAND],
    args: captureArgs(plan),
    resources: structuredClone(s.resources.init),
    securityContext: captureSecurityContext(),
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

/**
 * Native: first of all, so the sidecar and the pod's own init containers run
 * captured. Fallback: last init container, because the pod's own init
 * containers run before the sidecar exists and would lose their network.
 */
export function addCapture(pod: Pod, plan: Plan): void {
  if (plan.options.mode !== 'transparent') return;
  const spec = pod.spec as NonNullable<Pod['spec']>;
  const init = spec.initContainers ?? [];
  spec.initContainers = plan.native ? [captureContainer(plan), ...init] : [...init, captureContainer(plan)];
}
