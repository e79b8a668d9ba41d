// The broker's Kubernetes access, through small interfaces so the HTTP layer
// and the decision can be exercised without a cluster, implemented with
// @kubernetes/client-node against the real API server.
import { ApiException, AuthenticationV1Api, CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { TokenReviewStatus } from '../stream/auth.ts';
import { decodeKeys, encodeKeys, type KeyStore, type StoredKey } from './keys.ts';

export interface BrokerKube {
  /** TokenReview (authentication.k8s.io/v1) of `token` for `audiences`. */
  review(token: string, audiences: string[]): Promise<TokenReviewStatus>;
  /** The live pod, or null when it does not exist. */
  pod(namespace: string, name: string): Promise<V1Pod | null>;
  /** One key of a Secret's data, decoded; null when the Secret or the key does not exist. */
  secretValue(namespace: string, name: string, key: string): Promise<string | null>;
}

function notFound(err: unknown): boolean {
  return err instanceof ApiException && err.code === 404;
}

export function kubeBroker(kc: KubeConfig): BrokerKube {
  const auth = kc.makeApiClient(AuthenticationV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  return {
    async review(token, audiences) {
      const res = await auth.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences } } });
      return (res.status ?? {}) as TokenReviewStatus;
    },
    async pod(namespace, name) {
      try {
        return await core.readNamespacedPod({ name, namespace });
      } catch (err) {
        if (notFound(err)) return null;
        throw err;
      }
    },
    async secretValue(namespace, name, key) {
      try {
        const secret = await core.readNamespacedSecret({ name, namespace });
        const b64 = secret.data?.[key];
        return b64 === undefined ? null : Buffer.from(b64, 'base64').toString('utf8');
      } catch (err) {
        if (notFound(err)) return null;
        throw err;
      }
    },
  };
}

const DATA_KEY = 'keys.json';

/**
 * The broker key set in a Secret of the controller's namespace, shared by all
 * replicas; writes use the Secret's resourceVersion so concurrent rotations
 * cannot overwrite each other.
 */
export class SecretKeyStore implements KeyStore {
  readonly #core: CoreV1Api;
  readonly #namespace: string;
  readonly #name: string;
  constructor(kc: KubeConfig, namespace: string, name = 'mayfly-broker-keys') {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#namespace = namespace;
    this.#name = name;
  }

  async load(): Promise<{ keys: StoredKey[]; version: string | null }> {
    try {
      const s = await this.#core.readNamespacedSecret({ name: this.#name, namespace: this.#namespace });
      const b64 = s.data?.[DATA_KEY];
      return { keys: b64 ? decodeKeys(Buffer.from(b64, 'base64').toString('utf8')) : [], version: s.metadata?.resourceVersion ?? null };
    } catch (err) {
      if (notFound(err)) return { keys: [], version: null };
      throw err;
    }
  }

  async save(keys: readonly StoredKey[], version: string | null): Promise<boolean> {
    const body = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: this.#name, namespace: this.#namespace, labels: { 'app.kubernetes.io/managed-by': 'mayfly' }, ...(version ? { resourceVersion: version } : {}) },
      data: { [DATA_KEY]: Buffer.from(encodeKeys(keys)).toString('base64') },
    };
    try {
      if (version === null) await this.#core.createNamespacedSecret({ namespace: this.#namespace, body });
      else await this.#core.replaceNamespacedSecret({ name: this.#name, namespace: this.#namespace, body });
      return true;
    } catch (err) {
      if (err instanceof ApiException && err.code === 409) return false;
      throw err;
    }
  }
}
