// Where a self-signed install keeps its CA (a Secret in the controller's
// namespace, shared by every replica) and where it publishes the CA bundle (the
// MutatingWebhookConfiguration's caBundle). Concurrent replicas race through
// the API server's optimistic concurrency: whoever saves second adopts the
// first one's CA.
import { AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { CaMaterial, CaStore } from '@mayfly/webhook/certs';
import { isConflict, isNotFound } from './client.ts';

const CERT = 'ca.crt';
const KEY = 'ca.key';
const PREVIOUS = 'previous.crt';

function decode(s: V1Secret): CaMaterial | undefined {
  const d = s.data ?? {};
  const get = (k: string): string | undefined => (d[k] ? Buffer.from(d[k], 'base64').toString('utf8') : undefined);
  const cert = get(CERT);
  const key = get(KEY);
  if (!cert || !key) return undefined;
  const previous = get(PREVIOUS);
  return { cert, key, ...(previous ? { previous } : {}) };
}

function encode(ca: CaMaterial): Record<string, string> {
  const b64 = (v: string): string => Buffer.from(v, 'utf8').toString('base64');
  return { [CERT]: b64(ca.cert), [KEY]: b64(ca.key), ...(ca.previous ? { [PREVIOUS]: b64(ca.previous) } : {}) };
}

export class SecretCaStore implements CaStore {
  readonly #core: CoreV1Api;
  readonly #namespace: string;
  readonly #name: string;
  #resourceVersion: string | undefined;

  constructor(kc: KubeConfig, namespace: string, name: string) {
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#namespace = namespace;
    this.#name = name;
  }

  async load(): Promise<CaMaterial | undefined> {
    try {
      const s = await this.#core.readNamespacedSecret({ namespace: this.#namespace, name: this.#name });
      this.#resourceVersion = s.metadata?.resourceVersion;
      return decode(s);
    } catch (err) {
      if (isNotFound(err)) {
        this.#resourceVersion = undefined;
        return undefined;
      }
      throw err;
    }
  }

  async save(ca: CaMaterial, replacing: CaMaterial | undefined): Promise<CaMaterial> {
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'Opaque',
      metadata: { name: this.#name, namespace: this.#namespace, labels: { 'app.kubernetes.io/name': 'mayfly', 'app.kubernetes.io/component': 'webhook-ca' } },
      data: encode(ca),
    };
    try {
      if (replacing && this.#resourceVersion) {
        body.metadata = { ...body.metadata, resourceVersion: this.#resourceVersion };
        await this.#core.replaceNamespacedSecret({ namespace: this.#namespace, name: this.#name, body });
      } else {
        await this.#core.createNamespacedSecret({ namespace: this.#namespace, body });
      }
      return ca;
    } catch (err) {
      // Another replica saved first: use its CA so every replica serves the same chain.
      if (isConflict(err)) {
        const theirs = await this.load();
        if (theirs) return theirs;
      }
      throw err;
    }
  }
}

/** Writes `bundle` (PEM) as the caBundle of every webhook in the configuration. */
export async function publishCaBundle(kc: KubeConfig, configurationName: string, bundle: string): Promise<void> {
  const api = kc.makeApiClient(AdmissionregistrationV1Api);
  const current = await api.readMutatingWebhookConfiguration({ name: configurationName });
  const caBundle = Buffer.from(bundle, 'utf8').toString('base64');
  const ops = (current.webhooks ?? []).map((_, i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle }));
  if (ops.length === 0) return;
  // The resourceVersion test makes a concurrent edit fail instead of being overwritten.
  const test = { op: 'test', path: '/metadata/resourceVersion', value: current.metadata?.resourceVersion };
  await api.patchMutatingWebhookConfiguration({ name: configurationName, body: [test, ...ops] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
}
