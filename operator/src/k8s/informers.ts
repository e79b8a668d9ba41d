// The three informers the controller reads from (WorkloadPolicies, Pods,
// Namespaces), each a client-node ListWatch kept alive by the supervisor.
import { CoreV1Api, CustomObjectsApi, makeInformer, type Informer, type KubeConfig, type KubernetesListObject, type KubernetesObject, type ObjectCache, type V1Namespace, type V1Pod } from '@kubernetes/client-node';
import { GROUP, PLURAL, VERSION } from '@mayfly/crds';

export interface PolicyObject extends KubernetesObject {
  spec?: unknown;
  status?: Record<string, unknown>;
}

export type CachedInformer<T extends KubernetesObject> = Informer<T> & ObjectCache<T>;

export interface Informers {
  policies: CachedInformer<PolicyObject>;
  pods: CachedInformer<V1Pod>;
  namespaces: CachedInformer<V1Namespace>;
}

export function createInformers(kc: KubeConfig): Informers {
  const core = kc.makeApiClient(CoreV1Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const policies = makeInformer<PolicyObject>(
    kc,
    `/apis/${GROUP}/${VERSION}/${PLURAL}`,
    async () => (await custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: PLURAL })) as KubernetesListObject<PolicyObject>,
  );
  const pods = makeInformer<V1Pod>(kc, '/api/v1/pods', () => core.listPodForAllNamespaces());
  const namespaces = makeInformer<V1Namespace>(kc, '/api/v1/namespaces', () => core.listNamespace());
  return { policies, pods, namespaces };
}
