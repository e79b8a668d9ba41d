// The types of injection: what goes in (a pod, the install's settings, the
// policies that select the pod) and what comes out (a patch, a skip, a refusal).
import type { V1Container, V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import type { Operation } from 'fast-json-patch';
import type { CompiledPolicy } from '@mayfly/crds';

export type Pod = V1Pod;
export type Container = V1Container;

export type CaptureMode = 'transparent' | 'explicit';

/** The install's injection settings: parsed and validated once, then frozen. */
export interface InjectSettings {
  /** The Mayfly image (every command lives in it). */
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  /** The sidecar's UID; the capture rules exempt it. App containers may not use it. */
  sidecarUid: number;
  ports: { outbound: number; proxy: number; health: number };
  /** Outbound destination ports that are captured (transparent mode). */
  capturePorts: number[];
  mode: CaptureMode;
  resources: { sidecar: V1ResourceRequirements; init: V1ResourceRequirements };
  /** Never captured, never proxied: the Kubernetes API's service IP by default. */
  excludeOutboundCidrs: string[];
  excludeOutboundPorts: number[];
  /** Where the sidecar fetches its policy (the controller's service). */
  controllerUrl: string;
  /** PEM of the CA behind controllerUrl, given to the sidecar; empty means the system roots. */
  controllerCa: string;
  /** The broker's token issuer when it differs from controllerUrl; empty: controllerUrl. */
  brokerIssuer: string;
  /** PEM trusted for every external provider endpoint besides the system roots; empty: none. */
  providerCa: string;
  /** Whether the cluster runs init containers with restartPolicy Always (Kubernetes >= 1.29). */
  nativeSidecars: boolean;
  /** Mayfly's own namespace: never injected, like kube-system. */
  mayflyNamespace: string;
  /** Lifetime requested for projected tokens; the API server requires at least 600. */
  tokenExpirationSeconds: number;
}

export interface InjectContext {
  settings: InjectSettings;
  /** The policies that select this pod (the caller filters with `selects()`; inject filters again). */
  policies: readonly CompiledPolicy[];
}

/** Pods admitted unchanged: skipping never grants anything. */
export type SkipCode = 'ProtectedNamespace' | 'OptedOut' | 'HostNetwork' | 'UnsupportedOS';

/** Pods the webhook refuses: injecting them would be bypassable or ambiguous. */
export type RefusalCode =
  | 'InvalidAnnotation'
  | 'UnknownAnnotation'
  | 'SidecarUid'
  | 'CaptureCapability'
  | 'Privileged'
  | 'ReservedContainerName'
  | 'ReservedVolumeName'
  | 'SidecarVolumeMount';

export interface SkipReason {
  code: SkipCode;
  message: string;
}

export interface Refusal {
  code: RefusalCode;
  message: string;
}

export type InjectResult =
  | { patch: Operation[]; pod: Pod }
  | { skip: SkipReason }
  | { refuse: Refusal };

/** What the pod's own annotations ask for, after validation. */
export interface PodOptions {
  mode: CaptureMode;
  excludeOutboundPorts: number[];
  excludeOutboundCidrs: string[];
}

/** Everything the builders need, decided once per pod. */
export interface Plan {
  settings: InjectSettings;
  options: PodOptions;
  native: boolean;
  audiences: string[];
  aws: boolean;
}

/** The JSON recorded in the `mayfly.dev/status` annotation. */
export interface InjectionStatus {
  version: 1;
  mode: CaptureMode;
  native: boolean;
  image: string;
  initContainers: string[];
  containers: string[];
  volumes: string[];
  audiences: string[];
}
