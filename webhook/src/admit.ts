// One admission as a pipeline: review in, response and outcome out. The
// outcome feeds the metric labels, the log line and the Event. Pure: the
// policies are fetched by the caller.
import type { CompiledPolicy } from '@mayfly/crds';
import { HTTP_STATUS, isWebhookError } from './errors.ts';
import { inject } from './inject/inject.ts';
import type { InjectSettings, Pod } from './inject/types.ts';
import { allow, deny, type AdmissionRequest, type AdmissionResponse } from './review.ts';

export type AdmissionResultKind = 'injected' | 'unchanged' | 'skipped' | 'refused' | 'ignored' | 'error';

export interface Outcome {
  result: AdmissionResultKind;
  /** A SkipCode, RefusalCode, ERR_ code, or "Injected"/"Unchanged"/"NotAPodCreate". */
  reason: string;
  message: string;
}

/** What an Event is about: the pod's owner when the pod has no name yet. */
export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string;
  uid?: string;
}

export interface AdmissionEvent {
  involvedObject: InvolvedObject;
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export function isPodCreate(req: AdmissionRequest): boolean {
  return req.kind.group === '' && req.kind.kind === 'Pod' && req.operation === 'CREATE' && !req.subResource;
}

export function admit(req: AdmissionRequest, settings: InjectSettings, policies: readonly CompiledPolicy[]): { response: AdmissionResponse; outcome: Outcome } {
  if (!isPodCreate(req)) {
    return { response: allow(req.uid), outcome: { result: 'ignored', reason: 'NotAPodCreate', message: `${req.operation} ${req.kind.kind} is not injected` } };
  }
  // The API server may leave the namespace out of the object; inject() needs it.
  const object = req.object as Pod | null;
  const pod = object && typeof object === 'object' && object.metadata?.namespace === undefined && req.namespace
    ? { ...object, metadata: { ...object.metadata, namespace: req.namespace } }
    : object;
  try {
    const result = inject(pod, { settings, policies });
    if ('skip' in result) {
      return { response: allow(req.uid), outcome: { result: 'skipped', reason: result.skip.code, message: result.skip.message } };
    }
    if ('refuse' in result) {
      const message = `mayfly: ${result.refuse.code}: ${result.refuse.message}`;
      return { response: deny(req.uid, 403, 'Forbidden', message), outcome: { result: 'refused', reason: result.refuse.code, message: result.refuse.message } };
    }
    if (result.patch.length === 0) {
      return { response: allow(req.uid), outcome: { result: 'unchanged', reason: 'Unchanged', message: 'pod is already injected' } };
    }
    return { response: allow(req.uid, result.patch), outcome: { result: 'injected', reason: 'Injected', message: 'sidecar injected' } };
  } catch (err) {
    if (!isWebhookError(err)) throw err;
    return { response: deny(req.uid, HTTP_STATUS[err.code], 'BadRequest', `mayfly: ${err.message}`), outcome: { result: 'error', reason: err.code, message: err.message } };
  }
}

/** The Event for an outcome people should see: skips and refusals. */
export function eventFor(req: AdmissionRequest, outcome: Outcome): AdmissionEvent | undefined {
  if (outcome.result !== 'skipped' && outcome.result !== 'refused') return undefined;
  const pod = (req.object ?? {}) as Pod;
  const namespace = req.namespace ?? pod.metadata?.namespace ?? 'default';
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller) ?? pod.metadata?.ownerReferences?.[0];
  const name = pod.metadata?.name || req.name;
  const involvedObject: InvolvedObject = name
    ? { apiVersion: 'v1', kind: 'Pod', name, namespace }
    : owner
      ? { apiVersion: owner.apiVersion, kind: owner.kind, name: owner.name, namespace, uid: owner.uid }
      : { apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.generateName ?? 'unknown', namespace };
  const verb = outcome.result === 'skipped' ? 'not injected' : 'refused';
  return {
    involvedObject,
    type: outcome.result === 'skipped' ? 'Normal' : 'Warning',
    reason: outcome.result === 'skipped' ? `MayflySkipped${outcome.reason}` : `MayflyRefused${outcome.reason}`,
    message: `pod ${name || pod.metadata?.generateName || ''} ${verb}: ${outcome.message}`.slice(0, 1024),
  };
}
