// Prometheus metrics of the webhook, in a registry of its own (the controller
// merges it into its /metrics).
import { Counter, Histogram, Registry } from 'prom-client';

export interface WebhookMetrics {
  registry: Registry;
  admissions: Counter<'result' | 'reason'>;
  latency: Histogram<'result'>;
  eventFailures: Counter;
}

export function createMetrics(registry = new Registry()): WebhookMetrics {
  return {
    registry,
    admissions: new Counter({ name: 'mayfly_webhook_admissions_total', help: 'Admission reviews answered, by result and reason.', labelNames: ['result', 'reason'], registers: [registry] }),
    latency: new Histogram({
      name: 'mayfly_webhook_admission_duration_seconds',
      help: 'Time from request body parsed to response ready.',
      labelNames: ['result'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers: [registry],
    }),
    eventFailures: new Counter({ name: 'mayfly_webhook_event_failures_total', help: 'Events that could not be recorded.', registers: [registry] }),
  };
}
