// Every issue and every refusal of the broker is one audit record: who (pod,
// service account), what (policy, audience, token type), the outcome and its
// coded reason, and the credential by id (jti, key id) but never by value.
import type { Logger } from 'pino';

export interface BrokerAuditRecord {
  decision: 'issue' | 'refuse';
  reason?: string;
  error?: string;
  wouldDeny?: string;
  namespace?: string;
  serviceAccount?: string;
  pod?: string;
  podUID?: string;
  policy?: string;
  audience?: string;
  tokenType?: string;
  jti?: string;
  kid?: string;
  expiresAt?: string;
  remote?: string;
}

export type BrokerAudit = (record: BrokerAuditRecord) => void;

export function pinoAudit(logger: Logger): BrokerAudit {
  const audit = logger.child({ audit: 'broker' });
  return (record) => {
    if (record.decision === 'issue') audit.info(record, 'credential issued');
    else audit.warn(record, 'credential refused');
  };
}
