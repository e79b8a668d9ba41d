// The exact command that makes a drifted pod enforce its policies. Pure.
import { INJECT_ANNOTATION, INJECTION_ENABLED, INJECTION_LABEL } from '@mayfly/crds';
import type { NamespaceView, PodView, WorkloadRef } from './pods.ts';

const RESTARTABLE: Record<string, string> = { Deployment: 'deployment', StatefulSet: 'statefulset', DaemonSet: 'daemonset' };

/** Quotes a word for a POSIX shell when it needs it (names are DNS labels, so rarely). */
function sh(word: string): string {
  return /^[A-Za-z0-9._\/:=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Re-creates the pod through its controller so the webhook injects the current sidecar. */
export function recreateCommand(pod: Pick<PodView, 'namespace' | 'name'>, workload: WorkloadRef | null): string {
  const resource = workload ? RESTARTABLE[workload.kind] : undefined;
  if (workload && resource) return `kubectl -n ${sh(pod.namespace)} rollout restart ${resource}/${sh(workload.name)}`;
  return `kubectl -n ${sh(pod.namespace)} delete pod ${sh(pod.name)}`;
}

export interface Fix {
  /** A command to run, when one exists. */
  command?: string;
  /** Anything the command alone does not say (a bare pod must be re-created by hand). */
  note?: string;
}

export function fixForNoSidecar(pod: PodView, ns: NamespaceView, workload: WorkloadRef | null): Fix {
  if (pod.hostNetwork) return { note: 'hostNetwork pods cannot be injected; remove hostNetwork from the pod or exclude it from the policy' };
  const restartable = workload ? RESTARTABLE[workload.kind] : undefined;
  const steps: string[] = [];
  if (!ns.injectionEnabled) steps.push(`kubectl label namespace ${sh(ns.name)} ${INJECTION_LABEL}=${INJECTION_ENABLED}`);
  if (pod.optedOut) {
    if (!workload || !restartable) {
      return { note: `the pod opts out with ${INJECT_ANNOTATION}: "false"; re-create it without that annotation` };
    }
    // Removing the annotation from the template rolls the workload by itself.
    const path = `/spec/template/metadata/annotations/${INJECT_ANNOTATION.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    steps.push(`kubectl -n ${sh(pod.namespace)} patch ${restartable}/${sh(workload.name)} --type=json -p '[{"op":"remove","path":"${path}"}]'`);
    return { command: steps.join(' && ') };
  }
  steps.push(recreateCommand(pod, workload));
  const bare = !workload || workload.kind === 'Other';
  return { command: steps.join(' && '), ...(bare ? { note: 'the pod has no controller: create it again after deleting it' } : {}) };
}

export function fixForMissingAudience(pod: PodView, workload: WorkloadRef | null): Fix {
  const bare = !workload || workload.kind === 'Other';
  return { command: recreateCommand(pod, workload), ...(bare ? { note: 'the pod has no controller: create it again after deleting it' } : {}) };
}
