// The sidecar: a native sidecar (an init container with restartPolicy Always
// whose startup probe holds the app until it is ready, and which lets Jobs
// complete), or on older clusters the first ordinary container, with a
// postStart hook that holds the next containers until it is ready.
import type { V1EnvVar, V1Probe, V1SecurityContext } from '@kubernetes/client-node';
import {
  CA_DIR, CA_VOLUME, ENV, LIVENESS_PATH, PODINFO_DIR, PODINFO_VOLUME, READINESS_PATH,
  SIDECAR_COMMAND, SIDECAR_CONTAINER_NAME, TOKEN_DIR, TOKEN_VOLUME, WAIT_READY_COMMAND,
} from '../paths.ts';
import type { Container, Plan, Pod } from '../types.ts';
import { identityEnv } from './identity.ts';

export function sidecarSecurityContext(plan: Plan): V1SecurityContext {
  return {
    runAsUser: plan.settings.sidecarUid,
    runAsGroup: plan.settings.sidecarUid,
    runAsNonRoot: true,
    privileged: false,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

function probe(path: string, plan: Plan, timing: Pick<V1Probe, 'periodSeconds' | 'failureThreshold'>): V1Probe {
  return { httpGet: { path, port: plan.settings.ports.health }, timeoutSeconds: 1, ...timing };
}

function sidecarEnv(plan: Plan): V1EnvVar[] {
  const s = plan.settings;
  return [
    ...identityEnv(),
    { name: ENV.controllerUrl, value: s.controllerUrl },
    { name: ENV.mode, value: plan.options.mode },
    { name: ENV.outboundPort, value: String(s.ports.outbound) },
    { name: ENV.proxyPort, value: String(s.ports.proxy) },
    { name: ENV.healthPort, value: String(s.ports.health) },
    { name: ENV.capturePorts, value: s.capturePorts.join(',') },
    ...(s.controllerCa ? [{ name: ENV.controllerCa, value: s.controllerCa }] : []),
    ...(s.brokerIssuer ? [{ name: ENV.brokerIssuer, value: s.brokerIssuer }] : []),
    ...(s.providerCa ? [{ name: ENV.providerCa, value: s.providerCa }] : []),
    { name: ENV.tokenDir, value: TOKEN_DIR },
    { name: ENV.caDir, value: CA_DIR },
    { name: ENV.podinfoDir, value: PODINFO_DIR },
    { name: ENV.tokenAudiences, value: plan.audiences.join(',') },
  ];
}

export function sidecarContainer(plan: Plan): Container {
  const s = plan.settings;
  const container: Container = {
    name: SIDECAR_CONTAINER_NAME,
    image: s.image,
    imagePullPolicy: s.imagePullPolicy,
    command: [...SIDECAR_COMMAND],
    env: sidecarEnv(plan),
    ports: [{ name: 'mayfly-health', containerPort: s.ports.health, protocol: 'TCP' }],
    // Up to two minutes to write the CA and fetch the policy before the app starts.
    startupProbe: probe(READINESS_PATH, plan, { periodSeconds: 1, failureThreshold: 120 }),
    readinessProbe: probe(READINESS_PATH, plan, { periodSeconds: 5, failureThreshold: 3 }),
    livenessProbe: probe(LIVENESS_PATH, plan, { periodSeconds: 10, failureThreshold: 3 }),
    resources: structuredClone(s.resources.sidecar),
    securityContext: sidecarSecurityContext(plan),
    terminationMessagePolicy: 'FallbackToLogsOnError',
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: CA_VOLUME, mountPath: CA_DIR },
      { name: PODINFO_VOLUME, mountPath: PODINFO_DIR, readOnly: true },
    ],
  };
  if (plan.native) container.restartPolicy = 'Always';
  else container.lifecycle = { postStart: { exec: { command: [...WAIT_READY_COMMAND] } } };
  return container;
}

/** Native: right after the capture step, before the pod's own init containers. Fallback: first app container. */
export function addSidecar(pod: Pod, plan: Plan): void {
  const spec = pod.spec as NonNullable<Pod['spec']>;
  const sidecar = sidecarContainer(plan);
  if (plan.native) {
    spec.initContainers = [sidecar, ...(spec.initContainers ?? [])];
  } else {
    spec.containers = [sidecar, ...spec.containers];
  }
}
