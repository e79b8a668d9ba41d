// Wires one controller process: informers (supervised), the reconciler
// (leader-elected), the config stream, the webhook and the broker, and the two
// listeners. Decisions live in the modules it wires; this file only connects.
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { CompiledPolicy } from '@mayfly/crds';
import { FileCertificates, SelfSignedCertificates } from '@mayfly/webhook/certs';
import { checkSettings, defaultSettings, WebhookError } from '@mayfly/webhook';
import { createMetrics as createWebhookMetrics } from '@mayfly/webhook/metrics';
import { buildWebhookServer, type CertificatePair } from '@mayfly/webhook/server';
import { ConfigError, type ControllerConfig } from './config.ts';
import { PolicyController } from './controller/policy-controller.ts';
import { createKube, describeError, loadKubeConfig } from './k8s/client.ts';
import { createInformers, type PolicyObject } from './k8s/informers.ts';
import { CaBundlePublisher } from './k8s/webhook-ca.ts';
import { createEventRecorder } from '@mayfly/webhook/events';
import { secretCaStore, webhookCaBundlePatcher } from '@mayfly/webhook/k8s';
import type { Logger } from './log.ts';
import { type Clock, realClock } from './machinery/clock.ts';
import { LeaderElector } from './machinery/leader-election.ts';
import { InformerSupervisor } from './machinery/supervisor.ts';
import { createMetrics } from './metrics.ts';
import { CompiledCache, grants } from './policies/compiled-cache.ts';
import { Reconciler } from './reconcile/reconciler.ts';
import { buildOpsApp, buildPlainHttpsApp } from './servers.ts';
import { createAuthenticator } from './stream/auth.ts';
import { ConfigHub } from './stream/hub.ts';
import { configStreamRoutes } from './stream/routes.ts';
import { brokerIssuer, mountBroker } from './broker-mount.ts';

export interface RunningController {
  /** Bound addresses (useful when a port of 0 was asked for). */
  serverPort: number;
  opsPort: number;
  isLeader(): boolean;
  ready(): boolean;
  stop(): Promise<void>;
}

export interface RunOptions {
  log: Logger;
  clock?: Clock;
}

function podNamespace(o: { metadata?: { namespace?: string } }): string {
  return o.metadata?.namespace ?? '';
}

export async function runController(config: ControllerConfig, options: RunOptions): Promise<RunningController> {
  const { log } = options;
  const clock = options.clock ?? realClock;
  const kc = loadKubeConfig(config.kubeconfig);
  const kube = createKube(kc);
  const metrics = createMetrics(undefined, { defaultMetrics: true });
  const informers = createInformers(kc);
  const compiled = new CompiledCache();

  const supervisor = new InformerSupervisor({
    clock,
    onError: (name, err, ms) => {
      metrics.informerUp.set({ informer: name }, 0);
      log.warn({ informer: name, err: describeError(err), restartInMs: ms }, 'informer stopped');
    },
    onRestart: (name) => {
      metrics.informerRestarts.inc({ informer: name });
      log.info({ informer: name }, 'informer restarting');
    },
  });
  supervisor.add('workloadpolicies', informers.policies);
  supervisor.add('pods', informers.pods);
  supervisor.add('namespaces', informers.namespaces);

  /** The valid compiled policies of a namespace, from the cache. */
  const compiledIn = (namespace: string): CompiledPolicy[] =>
    informers.policies.list(namespace).flatMap((p) => {
      const o = compiled.get(p);
      return o.ok ? [o.compiled] : [];
    });

  const hub = new ConfigHub(
    {
      policies: compiledIn,
      pod: (namespace, name) => {
        const pod = informers.pods.get(name, namespace);
        if (!pod?.metadata?.uid) return undefined;
        const own = new Set(['mayfly-sidecar', 'mayfly-init']);
        const images = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].filter((c) => !own.has(c.name)).map((c) => c.image ?? '');
        return { uid: pod.metadata.uid, subject: { namespace, serviceAccount: pod.spec?.serviceAccountName || 'default', labels: pod.metadata.labels ?? {} }, images };
      },
    },
    clock,
    { onPush: () => metrics.streamPushes.inc() },
  );

  const reconciler = new Reconciler({
    policies: informers.policies,
    pods: informers.pods,
    namespaces: informers.namespaces,
    compiled,
    kube,
    clock,
    log: log.child({ part: 'reconciler' }),
    metrics,
    identity: config.identity,
    apiAudiences: config.reconcile.apiAudiences,
    missingSecretRecheckMs: config.reconcile.missingSecretRecheckSeconds * 1000,
  });
  const controller = new PolicyController({ policies: informers.policies, reconciler, clock, workers: config.reconcile.workers, log: log.child({ part: 'reconciler' }), metrics });

  informers.policies.on('add', (p) => (controller.policyEvent(p, 'add'), hub.policiesChanged(podNamespace(p))));
  informers.policies.on('update', (p) => (controller.policyEvent(p, 'update'), hub.policiesChanged(podNamespace(p))));
  informers.policies.on('delete', (p: PolicyObject) => {
    compiled.forget(podNamespace(p), p.metadata?.name ?? '');
    controller.policyEvent(p, 'delete');
    hub.policiesChanged(podNamespace(p));
  });
  const podTouched = (pod: V1Pod): void => {
    controller.namespaceEvent(podNamespace(pod));
    hub.podChanged(podNamespace(pod));
  };
  informers.pods.on('add', podTouched);
  informers.pods.on('update', podTouched);
  informers.pods.on('delete', (pod: V1Pod) => {
    hub.podDeleted(podNamespace(pod), pod.metadata?.name ?? '', pod.metadata?.uid ?? '');
    controller.namespaceEvent(podNamespace(pod));
  });
  for (const verb of ['add', 'update', 'delete'] as const) informers.namespaces.on(verb, (ns) => controller.namespaceEvent(ns.metadata?.name ?? ''));

  await supervisor.start();
  for (const s of supervisor.status()) metrics.informerUp.set({ informer: s.name }, s.state === 'running' ? 1 : 0);
  log.info({ informers: supervisor.status() }, 'informers started');

  // Serving certificate.
  let setCertificate: (pair: CertificatePair) => void = () => {};
  let certificate: CertificatePair;
  let stopCerts: () => void;
  let caPublisher: CaBundlePublisher | null = null;
  /** The CA behind our serving certificate, handed to injected sidecars so they can verify the controller. */
  let caBundle = '';
  if (config.tls.mode === 'files') {
    const files = new FileCertificates({ certFile: config.tls.certFile, keyFile: config.tls.keyFile, onCertificate: (p) => setCertificate(p), onError: (err) => log.warn({ err: describeError(err) }, 'certificate reload failed') });
    certificate = await files.start();
    stopCerts = () => files.stop();
    // cert-manager writes the issuing CA next to the pair (ca.crt); sidecars need it to verify us.
    caBundle = await readFile(join(dirname(config.tls.certFile), 'ca.crt'), 'utf8').catch(() => '');
    if (!caBundle) log.warn({ dir: dirname(config.tls.certFile) }, 'no ca.crt next to the serving certificate: sidecars will verify the controller against the system roots');
  } else {
    const tls = config.tls;
    caPublisher = new CaBundlePublisher(webhookCaBundlePatcher(kc, config.webhook.configurationName), clock, {
      onError: (err) => log.warn({ err: describeError(err), configuration: config.webhook.configurationName }, 'ca bundle not published'),
    });
    const publisher = caPublisher;
    const selfSigned = new SelfSignedCertificates({
      store: secretCaStore(kc, config.namespace, tls.secretName),
      dnsNames: tls.dnsNames,
      ipAddresses: tls.ipAddresses,
      onCertificate: (p) => setCertificate(p),
      onCaBundle: async (bundle: string) => {
        caBundle = bundle;
        if (config.webhook.enabled) await publisher.set(bundle);
      },
      onError: (err) => log.warn({ err: describeError(err) }, 'certificate renewal failed'),
    });
    certificate = await selfSigned.start();
    stopCerts = () => selfSigned.stop();
  }

  let listening = false;
  const ready = (): boolean => listening && supervisor.synced();

  let https;
  if (config.webhook.enabled) {
    let settings;
    try {
      settings = checkSettings(defaultSettings({ mayflyNamespace: config.namespace, controllerCa: caBundle, brokerIssuer: config.broker.enabled && config.broker.issuer ? brokerIssuer(config) : '', controllerUrl: `https://${config.tls.mode === 'self-signed' ? config.tls.dnsNames[0] : 'mayfly-controller.mayfly-system.svc'}:${config.server.port}`, ...config.webhook.settings }));
    } catch (err) {
      if (err instanceof WebhookError) throw new ConfigError([`webhook.settings: ${err.message}`]);
      throw err;
    }
    const server = buildWebhookServer(
      { settings },
      {
        policiesFor: (namespace) => compiledIn(namespace).filter((p) => grants(p, clock.now())),
        recordEvent: createEventRecorder(kc, { instance: config.identity }),
        certificate,
        ready,
        logger: log.child({ part: 'webhook' }),
        metrics: createWebhookMetrics(metrics.registry),
      },
    );
    https = server;
  } else {
    https = buildPlainHttpsApp(certificate, log, ready);
  }
  setCertificate = https.setCertificate;

  const authenticator = createAuthenticator({
    review: (token, audiences) => kube.review(token, audiences),
    pod: async (namespace, name) => {
      // A pod that has just started may not be in the cache yet: ask the API server.
      const pod = informers.pods.get(name, namespace) ?? (await kube.readPod(namespace, name));
      if (!pod) return null;
      return { uid: pod.metadata?.uid ?? '', serviceAccount: pod.spec?.serviceAccountName || 'default', labels: pod.metadata?.labels ?? {}, deleted: false };
    },
  });
  await https.app.register(configStreamRoutes, {
    authenticator,
    hub,
    clock,
    ready,
    heartbeatMs: config.stream.heartbeatSeconds * 1000,
    log: log.child({ part: 'stream' }),
    onStream: (event, code) => {
      if (event === 'open') metrics.streams.inc();
      else if (event === 'close') metrics.streams.dec();
      else metrics.streamRefusals.inc({ code: code ?? 'unknown' });
    },
  });
  const broker = config.broker.enabled ? await mountBroker(https.app, { kc, config, clock, log: log.child({ part: 'broker' }), policiesFor: compiledIn }) : null;

  let elector: LeaderElector | null = null;
  let stopping = false;
  await https.app.listen({ host: config.server.host, port: config.server.port });
  listening = true;
  const ops = buildOpsApp({
    registry: metrics.registry,
    ready,
    detail: () => ({ leader: elector ? elector.isLeader : true, informers: supervisor.status() }),
    log: log.child({ part: 'ops' }),
  });
  await ops.listen({ host: config.ops.host, port: config.ops.port });

  if (config.leaderElection.enabled) {
    const le = config.leaderElection;
    elector = new LeaderElector({
      identity: config.identity,
      client: kube.lease(config.namespace, le.leaseName),
      clock,
      leaseDurationSeconds: le.leaseDurationSeconds,
      renewDeadlineMs: le.renewDeadlineSeconds * 1000,
      retryPeriodMs: le.retryPeriodSeconds * 1000,
      onStartedLeading: () => {
        metrics.leader.set(1);
        log.info({ identity: config.identity }, 'became leader');
        controller.startLeading();
      },
      onStoppedLeading: () => {
        metrics.leader.set(0);
        if (stopping) log.info({ identity: config.identity }, 'leadership released');
        else log.warn({ identity: config.identity }, 'lost leadership');
        void controller.stopLeading();
      },
      onNewLeader: (leader) => log.info({ leader }, 'leader observed'),
      onError: (err) => log.debug({ err: describeError(err) }, 'lease attempt failed'),
    });
    elector.start();
  } else {
    metrics.leader.set(1);
    controller.startLeading();
  }

  const addr = (s: { server: { address(): unknown } }): number => ((s.server.address() as { port?: number } | null)?.port ?? 0);
  log.info({ server: addr(https.app), ops: addr(ops), identity: config.identity, webhook: config.webhook.enabled, broker: broker !== null }, 'controller started');

  return {
    serverPort: addr(https.app),
    opsPort: addr(ops),
    isLeader: () => (elector ? elector.isLeader : true),
    ready,
    async stop() {
      stopping = true;
      listening = false;
      await elector?.stop();
      await controller.stopLeading();
      hub.stop();
      broker?.stop();
      await https.app.close();
      await ops.close();
      stopCerts();
      caPublisher?.stop();
      await supervisor.stop();
      log.info({}, 'controller stopped');
    },
  };
}
