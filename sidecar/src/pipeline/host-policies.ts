// Which policies know a host, remembered per policy snapshot: `selects` and the
// host match depend only on the snapshot, the pod identity and the host, never
// on time or on the request, so the decision can start from the few policies
// that name the host instead of filtering every policy on every request.
import type { CompiledPolicy } from '@mayfly/crds';
import type { PodIdentity, PolicySnapshot } from '../contracts.ts';
import { policiesForHost } from '../policy/decide.ts';

export class HostPolicies {
  #snapshot: PolicySnapshot | null = null;
  #identity: PodIdentity | null = null;
  #byHost = new Map<string, readonly CompiledPolicy[]>();
  #max: number;

  constructor(max = 4096) {
    this.#max = max;
  }

  /** The policies selecting `identity` that name `host`, as `policiesForHost` returns them. */
  get(snapshot: PolicySnapshot, identity: PodIdentity, host: string): readonly CompiledPolicy[] {
    if (snapshot !== this.#snapshot || identity !== this.#identity) {
      this.#snapshot = snapshot;
      this.#identity = identity;
      this.#byHost.clear();
    }
    let known = this.#byHost.get(host);
    if (known === undefined) {
      known = policiesForHost(snapshot.policies, identity, host);
      if (this.#byHost.size >= this.#max) this.#byHost.clear(); // bounded: a flood of names only costs recomputation
      this.#byHost.set(host, known);
    }
    return known;
  }
}
