// Pods with an aws policy: AWS SDKs refuse to send a request without
// credentials, so app containers get placeholders; the sidecar strips the
// placeholder signature and signs with the real temporary credentials.
import type { V1EnvVar } from '@kubernetes/client-node';
import type { CompiledPolicy } from '@mayfly/crds';
import { AWS_PLACEHOLDER_ACCESS_KEY_ID, AWS_PLACEHOLDER_SECRET_ACCESS_KEY } from '../paths.ts';
import type { Plan, Pod } from '../types.ts';
import { appContainers, literal, setEnv } from './containers.ts';

export function needsAwsPlaceholders(policies: readonly CompiledPolicy[]): boolean {
  return policies.some((p) => p.credential.provider.kind === 'aws' || p.credential.inject.kind === 'awsSigV4');
}

export function awsEnv(): V1EnvVar[] {
  return [literal('AWS_ACCESS_KEY_ID', AWS_PLACEHOLDER_ACCESS_KEY_ID), literal('AWS_SECRET_ACCESS_KEY', AWS_PLACEHOLDER_SECRET_ACCESS_KEY)];
}

export function addAwsPlaceholders(pod: Pod, plan: Plan): void {
  if (!plan.aws) return;
  for (const c of appContainers(pod, plan)) setEnv(c, awsEnv());
}
