// The WorkloadPolicy object. Spec and status types are generated from the CRD
// (types.gen.ts); this file adds the envelope.
import type { WorkloadPolicySpec, WorkloadPolicyStatus } from './types.gen.ts';

export type * from './types.gen.ts';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface WorkloadPolicy {
  apiVersion: 'mayfly.dev/v1alpha1';
  kind: 'WorkloadPolicy';
  metadata: ObjectMeta;
  spec: WorkloadPolicySpec;
  status?: WorkloadPolicyStatus;
}
