// Test helpers: real certificates and real HTTPS requests on loopback.
import { request } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createCA, createServingCert, type CaMaterial, type CertificatePair } from '@mayfly/webhook';

export function testPki(now = new Date()): { ca: CaMaterial; serving: CertificatePair } {
  const ca = createCA('test-ca', now, 30);
  return { ca, serving: createServingCert(ca, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] }, now, 7) };
}

export interface HttpsResult {
  status: number;
  body: string;
  json: () => unknown;
  /** Serial number of the certificate the server presented. */
  serial: string;
}

export function httpsRequest(url: string, ca: string, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<HttpsResult> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', ca, agent: false, headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers } }, (res) => {
      const serial = (res.socket as TLSSocket).getPeerCertificate().serialNumber;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body, json: () => JSON.parse(body) as unknown, serial });
      });
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

export function podReview(pod: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const p = (pod ?? {}) as { metadata?: { namespace?: string; name?: string } };
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      namespace: p.metadata?.namespace ?? 'default',
      name: p.metadata?.name,
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object: pod,
      oldObject: null,
      dryRun: false,
      options: { apiVersion: 'meta.k8s.io/v1', kind: 'CreateOptions' },
      ...extra,
    },
  };
}
