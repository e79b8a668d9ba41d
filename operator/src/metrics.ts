// The controller's Prometheus metrics, in one registry that /metrics serves
// together with the webhook's and the broker's.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface ControllerMetrics {
  registry: Registry;
  reconciles: Counter<'result'>;
  reconcileSeconds: Histogram<'result'>;
  queueDepth: Gauge;
  policyReady: Gauge<'namespace' | 'policy'>;
  driftedPods: Gauge<'namespace' | 'policy' | 'reason'>;
  leader: Gauge;
  informerRestarts: Counter<'informer'>;
  informerUp: Gauge<'informer'>;
  streams: Gauge;
  streamPushes: Counter;
  streamRefusals: Counter<'code'>;
  events: Counter<'type' | 'result'>;
}

export function createMetrics(registry = new Registry(), options: { defaultMetrics?: boolean } = {}): ControllerMetrics {
  if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'mayfly_controller_' });
  const r = [registry];
  return {
    registry,
    reconciles: new Counter({ name: 'mayfly_reconcile_total', help: 'Policy reconciles by outcome (done, requeue, retry, terminal).', labelNames: ['result'], registers: r }),
    reconcileSeconds: new Histogram({ name: 'mayfly_reconcile_duration_seconds', help: 'Time to reconcile one policy.', labelNames: ['result'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: r }),
    queueDepth: new Gauge({ name: 'mayfly_workqueue_depth', help: 'Policies waiting to be reconciled.', registers: r }),
    policyReady: new Gauge({ name: 'mayfly_policy_ready', help: '1 when the policy is Ready (compiled, granting), 0 when not (see its Ready condition).', labelNames: ['namespace', 'policy'], registers: r }),
    driftedPods: new Gauge({ name: 'mayfly_policy_drifted_pods', help: 'Pods a policy selects that cannot enforce it, by reason (NoSidecar, MissingAudience).', labelNames: ['namespace', 'policy', 'reason'], registers: r }),
    leader: new Gauge({ name: 'mayfly_controller_leader', help: '1 while this replica holds the reconciler lease.', registers: r }),
    informerRestarts: new Counter({ name: 'mayfly_informer_restarts_total', help: 'Informers restarted after they stopped on an error.', labelNames: ['informer'], registers: r }),
    informerUp: new Gauge({ name: 'mayfly_informer_up', help: '1 while the informer is watching.', labelNames: ['informer'], registers: r }),
    streams: new Gauge({ name: 'mayfly_config_streams', help: 'Open config streams (connected sidecars) on this replica.', registers: r }),
    streamPushes: new Counter({ name: 'mayfly_config_stream_pushes_total', help: 'Snapshots pushed to sidecars.', registers: r }),
    streamRefusals: new Counter({ name: 'mayfly_config_stream_refusals_total', help: 'Config streams refused, by code.', labelNames: ['code'], registers: r }),
    events: new Counter({ name: 'mayfly_events_total', help: 'Kubernetes Events emitted, by type and result (ok, failed).', labelNames: ['type', 'result'], registers: r }),
  };
}
