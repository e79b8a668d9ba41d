// Thin client-node adapters for the certificate machinery: the CA kept in a
// Secret, and the CA bundle written into the MutatingWebhookConfiguration.
import { AdmissionregistrationV1Api, ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { CaMaterial, CaStore } from './certs.ts';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, 'base64').toString('utf8') : undefined);

function isStatus(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

/** The CA in a Secret (type Opaque): ca.crt, ca.key, previous.crt. */
export function secretCaStore(kubeConfig: KubeConfig, namespace: string, name: string): CaStore {
  const api = kubeConfig.makeApiClient(CoreV1Api);
  const read = async (): Promise<{ ca: CaMaterial; resourceVersion?: string } | undefined> => {
    try {
      const s = await api.readNamespacedSecret({ name, namespace });
      const cert = unb64(s.data?.['ca.crt']);
      const key = unb64(s.data?.['ca.key']);
      if (!cert || !key) return undefined;
      const previous = unb64(s.data?.['previous.crt']);
      return { ca: { cert, key, ...(previous ? { previous } : {}) }, ...(s.metadata?.resourceVersion ? { resourceVersion: s.metadata.resourceVersion } : {}) };
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  };
  const data = (ca: CaMaterial) => ({ 'ca.crt': b64(ca.cert), 'ca.key': b64(ca.key), ...(ca.previous ? { 'previous.crt': b64(ca.previous) } : {}) });
  return {
    load: async () => (await read())?.ca,
    async save(ca, replacing) {
      const body = { metadata: { name, namespace, labels: { 'app.kubernetes.io/part-of': 'mayfly' } }, type: 'Opaque', data: data(ca) };
      try {
        if (!replacing) await api.createNamespacedSecret({ namespace, body });
        else {
          const current = await read();
          // Another replica rolled the CA over first: use theirs.
          if (current && current.ca.cert !== replacing.cert) return current.ca;
          await api.replaceNamespacedSecret({ name, namespace, body: { ...body, metadata: { ...body.metadata, ...(current?.resourceVersion ? { resourceVersion: current.resourceVersion } : {}) } } });
        }
        return ca;
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
        const winner = await read();
        if (!winner) throw err;
        return winner.ca;
      }
    },
  };
}

/** Returns onCaBundle for SelfSignedCertificates: sets caBundle on every webhook of the configuration. */
export function webhookCaBundlePatcher(kubeConfig: KubeConfig, configurationName: string): (bundle: string) => Promise<void> {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  return async (bundle) => {
    const current = await api.readMutatingWebhookConfiguration({ name: configurationName });
    const encoded = b64(bundle);
    if ((current.webhooks ?? []).every((w) => w.clientConfig.caBundle === encoded)) return;
    for (const w of current.webhooks ?? []) w.clientConfig.caBundle = encoded;
    // A replace carries the resourceVersion read above: a concurrent writer makes it fail, not vanish.
    await api.replaceMutatingWebhookConfiguration({ name: configurationName, body: current });
  };
}
