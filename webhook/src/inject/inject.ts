// inject(pod, context): the one function that turns a pod into a patch, shared
// by the webhook and `mayfly inject`. It reads as a pipeline: check the shape,
// skip or refuse, plan, change a clone with one builder per injected thing,
// then diff. Pure: no I/O, no clock, no environment.
import jsonpatch from 'fast-json-patch';
import { requiredAudiences, selects, type CompiledPolicy } from '@mayfly/crds';
import { needsAwsPlaceholders, addAwsPlaceholders } from './builders/aws.ts';
import { addCapture } from './builders/capture.ts';
import { addPodinfoVolume } from './builders/identity.ts';
import { addProxyEnv } from './builders/proxy.ts';
import { addSidecar } from './builders/sidecar.ts';
import { setStatus } from './builders/status.ts';
import { addTokenVolume } from './builders/tokens.ts';
import { addTrust } from './builders/trust.ts';
import { captureBypass, hasStatus, hostNetwork, protectedNamespace, reservedNames, sidecarUid, sidecarVolumeMounts, unsupportedOS } from './checks.ts';
import { optedOut, readOptions } from './options.ts';
import { RESERVED_CONTAINER_NAMES } from './paths.ts';
import { assertPod } from './pod-schema.ts';
import type { Container, InjectContext, InjectResult, Plan, Pod, PodOptions } from './types.ts';

/** The policies of the context that really select this pod. */
export function selectedPolicies(pod: Pod, policies: readonly CompiledPolicy[]): CompiledPolicy[] {
  const subject = {
    namespace: pod.metadata?.namespace ?? '',
    serviceAccount: pod.spec?.serviceAccountName ?? 'default',
    labels: (pod.metadata?.labels ?? {}) as Record<string, string>,
  };
  return policies.filter((p) => selects(p, subject));
}

function plan(pod: Pod, context: InjectContext, options: PodOptions): Plan {
  const policies = selectedPolicies(pod, context.policies);
  return {
    settings: context.settings,
    options,
    native: context.settings.nativeSidecars,
    audiences: requiredAudiences(policies),
    aws: needsAwsPlaceholders(policies),
  };
}

/**
 * A copy of the pod in which exactly the objects and lists the builders change
 * are new (metadata, annotations, spec, the container lists, each container,
 * its env and mounts, the volume list); everything else is shared with the
 * input. Builders replace entries, they never edit shared ones, so the input is
 * untouched, and compare() skips the shared subtrees by identity: at 256 KiB
 * this is several times cheaper than a deep clone.
 */
function copyOnWrite(pod: Pod): Pod {
  const spec = pod.spec as NonNullable<Pod['spec']>;
  const container = (c: Container): Container => ({
    ...c,
    ...(c.env ? { env: [...c.env] } : {}),
    ...(c.volumeMounts ? { volumeMounts: [...c.volumeMounts] } : {}),
  });
  return {
    ...pod,
    metadata: { ...pod.metadata, ...(pod.metadata?.annotations ? { annotations: { ...pod.metadata.annotations } } : {}) },
    spec: {
      ...spec,
      containers: spec.containers.map(container),
      ...(spec.initContainers ? { initContainers: spec.initContainers.map(container) } : {}),
      ...(spec.volumes ? { volumes: [...spec.volumes] } : {}),
    },
  };
}

/** Removes Mayfly's containers from a pod that says it was injected, so they are rebuilt exactly. */
function stripContainers(pod: Pod): void {
  const spec = pod.spec as NonNullable<Pod['spec']>;
  const keep = (c: { name: string }) => !RESERVED_CONTAINER_NAMES.includes(c.name);
  if (spec.initContainers) spec.initContainers = spec.initContainers.filter(keep);
  spec.containers = spec.containers.filter(keep);
}

const BUILDERS: Array<(pod: Pod, plan: Plan) => void> = [
  addTokenVolume,
  addPodinfoVolume,
  addTrust,
  (pod, p) => (p.options.mode === 'explicit' ? addProxyEnv(pod, p) : undefined),
  addAwsPlaceholders,
  addSidecar,
  addCapture,
  setStatus,
];

export function inject(input: unknown, context: InjectContext): InjectResult {
  const pod = assertPod(input);
  const { settings } = context;

  const protectedNs = protectedNamespace(pod, settings);
  if (protectedNs) return { skip: protectedNs };
  const options = readOptions(pod, settings);
  if ('refuse' in options) return options;
  if (optedOut(pod)) return { skip: { code: 'OptedOut', message: 'pod opted out with mayfly.dev/inject: "false"' } };
  const skip = hostNetwork(pod) ?? unsupportedOS(pod);
  if (skip) return { skip };

  const refusal = reservedNames(pod) ?? sidecarVolumeMounts(pod) ?? sidecarUid(pod, settings) ?? captureBypass(pod, options.mode);
  if (refusal) return { refuse: refusal };

  const injected = copyOnWrite(pod);
  if (hasStatus(pod)) stripContainers(injected);
  if (injected.spec && injected.spec.containers.length === 0) {
    return { refuse: { code: 'ReservedContainerName', message: 'every container of the pod uses a name reserved for Mayfly' } };
  }
  const p = plan(pod, context, options);
  for (const build of BUILDERS) build(injected, p);
  // The result shares unchanged subtrees with the input (see copyOnWrite).
  return { patch: jsonpatch.compare(pod, injected), pod: injected };
}
