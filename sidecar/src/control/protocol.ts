// The config stream between the controller and each sidecar: shared by both
// ends, so the wire format is defined once.
//
//   GET /v1/config/stream            Authorization: Bearer <the pod's "mayfly"-audience token>
//   200 application/x-ndjson, one JSON message per line, for as long as the token is valid:
//     {"type":"snapshot","revision":"…","policies":[CompiledPolicy…]}   first line, then on every change
//     {"type":"heartbeat","at":"…"}                                       every heartbeat interval
//     {"type":"end","code":"ERR_…","message":"…"}                        last line before the server closes
//   401/403/503 with {"code":"ERR_…","message":"…"} when the stream cannot start.
//
// A snapshot is the complete set of compiled policies that select the pod and
// still grant something; the sidecar swaps it in whole. Nothing else is sent.
import { createHash } from 'node:crypto';
import type { CompiledPolicy } from '@mayfly/crds';
import type { PolicySnapshot } from '../contracts.ts';

export const CONFIG_STREAM_PATH = '/v1/config/stream';
export const CONFIG_STREAM_CONTENT_TYPE = 'application/x-ndjson';

export type EndCode =
  /** The pod was deleted: an empty snapshot precedes this, revoking everything. */
  | 'ERR_POD_DELETED'
  /** The token the stream was opened with expired: reconnect with the current one. */
  | 'ERR_TOKEN_EXPIRED'
  /** The controller is shutting down: reconnect (to another replica). */
  | 'ERR_SHUTTING_DOWN';

export type StreamMessage =
  | { type: 'snapshot'; revision: string; policies: CompiledPolicy[] }
  | { type: 'heartbeat'; at: string }
  | { type: 'end'; code: EndCode; message: string };

export type StreamErrorCode =
  | 'ERR_UNAUTHENTICATED' // no token, or TokenReview refused it
  | 'ERR_FORBIDDEN' // the token is not a pod-bound token of an existing pod
  | 'ERR_NOT_READY'; // the controller has not synced its caches yet

/** The revision of a set of policies: a digest of their canonical JSON, sorted by id. */
export function revisionOf(policies: readonly CompiledPolicy[]): string {
  const sorted = [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex').slice(0, 16);
}

export function snapshotMessage(policies: readonly CompiledPolicy[]): StreamMessage {
  const sorted = [...policies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { type: 'snapshot', revision: revisionOf(sorted), policies: sorted };
}

export class ProtocolError extends Error {
  readonly code = 'ERR_CONFIG_STREAM_PROTOCOL';
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkPolicy(p: unknown, i: number): CompiledPolicy {
  if (!isObject(p)) throw new ProtocolError(`policies[${i}] is not an object`);
  for (const key of ['id', 'namespace', 'name'] as const) {
    if (typeof p[key] !== 'string') throw new ProtocolError(`policies[${i}].${key} is not a string`);
  }
  if (p.mode !== 'Enforce' && p.mode !== 'Audit') throw new ProtocolError(`policies[${i}].mode is invalid`);
  if (!Array.isArray(p.destinations)) throw new ProtocolError(`policies[${i}].destinations is not an array`);
  if (!isObject(p.credential) || !isObject(p.credential.provider) || !isObject(p.credential.inject)) {
    throw new ProtocolError(`policies[${i}].credential is invalid`);
  }
  if (p.expiresAt !== null && typeof p.expiresAt !== 'string') throw new ProtocolError(`policies[${i}].expiresAt is invalid`);
  return p as unknown as CompiledPolicy;
}

/** Parses one line of the stream; throws ProtocolError on anything unexpected. */
export function parseMessage(line: string): StreamMessage {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    throw new ProtocolError('a line is not JSON');
  }
  if (!isObject(v)) throw new ProtocolError('a message is not an object');
  switch (v.type) {
    case 'snapshot': {
      if (typeof v.revision !== 'string' || !Array.isArray(v.policies)) throw new ProtocolError('a snapshot needs revision and policies');
      return { type: 'snapshot', revision: v.revision, policies: v.policies.map(checkPolicy) };
    }
    case 'heartbeat':
      return { type: 'heartbeat', at: typeof v.at === 'string' ? v.at : '' };
    case 'end':
      return { type: 'end', code: String(v.code) as EndCode, message: typeof v.message === 'string' ? v.message : '' };
    default:
      throw new ProtocolError(`unknown message type ${JSON.stringify(v.type)}`);
  }
}

/** The snapshot as the sidecar holds it: frozen, so nobody can change it after the swap. */
export function toSnapshot(message: Extract<StreamMessage, { type: 'snapshot' }>): PolicySnapshot {
  return Object.freeze({ revision: message.revision, policies: Object.freeze(message.policies.map((p) => Object.freeze(p))) });
}
