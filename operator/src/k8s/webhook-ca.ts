// Where a self-signed install keeps its CA (a Secret in the controller's
// namespace, shared by every replica) and where it publishes the CA bundle (the
// MutatingWebhookConfiguration's caBundle). Concurrent replicas race through
// the API server's optimistic concurrency: whoever saves second adopts the
// first one's CA.
import { AdmissionregistrationV1Api, CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { CaMaterial, CaStore } from '@mayfly/webhook/certs';
import { backoffDelay } from '../machinery/backoff.ts';
import type { Clock, TimerHandle } from '../machinery/clock.ts';
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
  const webhooks = current.webhooks ?? [];
  // client-node hands caBundle back as the base64 string the API server sent.
  if (webhooks.length === 0 || webhooks.every((w) => String(w.clientConfig.caBundle ?? '') === caBundle)) return;
  const ops = webhooks.map((_, i) => ({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: caBundle }));
  // The resourceVersion test makes a concurrent edit fail instead of being overwritten.
  const test = { op: 'test', path: '/metadata/resourceVersion', value: current.metadata?.resourceVersion };
  await api.patchMutatingWebhookConfiguration({ name: configurationName, body: [test, ...ops] }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
}

/**
 * Keeps the caBundle of the webhook configuration equal to the CA in use: the
 * configuration may not exist yet when the controller starts (helm creates it
 * alongside the Deployment), or an upgrade may have reset it. Publishes on every
 * change, retries failures with backoff, and checks again every `verifyMs`.
 */
export class CaBundlePublisher {
  readonly #publish: (bundle: string) => Promise<void>;
  readonly #clock: Clock;
  readonly #verifyMs: number;
  readonly #onError: (err: unknown) => void;
  #bundle: string | undefined;
  #timer: TimerHandle | undefined;
  #failures = 0;
  #stopped = false;

  constructor(publish: (bundle: string) => Promise<void>, clock: Clock, options: { verifyMs?: number; onError?: (err: unknown) => void } = {}) {
    this.#publish = publish;
    this.#clock = clock;
    this.#verifyMs = options.verifyMs ?? 60_000;
    this.#onError = options.onError ?? (() => {});
  }

  /** Called with each new bundle; never rejects (failures are retried). */
  async set(bundle: string): Promise<void> {
    this.#bundle = bundle;
    await this.#attempt();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  async #attempt(): Promise<void> {
    this.#timer?.cancel();
    if (this.#stopped || this.#bundle === undefined) return;
    let next: number;
    try {
      await this.#publish(this.#bundle);
      this.#failures = 0;
      next = this.#verifyMs;
    } catch (err) {
      this.#failures++;
      this.#onError(err);
      next = backoffDelay(this.#failures, { baseMs: 1_000, maxMs: 30_000 });
    }
    if (!this.#stopped) this.#timer = this.#clock.setTimer(next, () => void this.#attempt());
  }
}
