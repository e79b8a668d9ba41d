// Reads the pod's mayfly.dev/ annotations. Every value is checked against a
// strict grammar: a value with a newline, YAML, a path or a shell
// metacharacter is refused with a clear message, never passed on.
import { isIP } from 'node:net';
import { ANNOTATION_PREFIX, INJECT_ANNOTATION, STATUS_ANNOTATION } from '@mayfly/crds';
import { EXCLUDE_CIDRS_ANNOTATION, EXCLUDE_PORTS_ANNOTATION, KNOWN_ANNOTATIONS, MODE_ANNOTATION } from '../annotations.ts';
import type { InjectSettings, Pod, PodOptions, Refusal } from './types.ts';

const MAX_STATUS_LENGTH = 4096;
const MAX_LIST_ITEMS = 64;

/** Shows a value in a message without letting it break the message. */
export function quote(value: string, max = 64): string {
  const shown = value.length > max ? `${value.slice(0, max)}...` : value;
  return JSON.stringify(shown);
}

function invalid(name: string, value: string, expected: string): { refuse: Refusal } {
  return { refuse: { code: 'InvalidAnnotation', message: `annotation ${name} has value ${quote(value)}: expected ${expected}` } };
}

export function annotationsOf(pod: Pod): Record<string, string> {
  return (pod.metadata?.annotations ?? {}) as Record<string, string>;
}

/** Whether the pod opted out: only after readOptions accepted the value. */
export function optedOut(pod: Pod): boolean {
  return annotationsOf(pod)[INJECT_ANNOTATION] === 'false';
}

function parsePorts(name: string, value: string): number[] | { refuse: Refusal } {
  const expected = 'a comma-separated list of ports 1-65535';
  if (!/^\d{1,5}(\s*,\s*\d{1,5})*$/.test(value)) return invalid(name, value, expected);
  const ports = value.split(',').map((p) => Number(p.trim()));
  if (ports.length > MAX_LIST_ITEMS || ports.some((p) => p < 1 || p > 65535)) return invalid(name, value, expected);
  return [...new Set(ports)].sort((a, b) => a - b);
}

export function isCidr(text: string): boolean {
  const m = /^([0-9a-fA-F.:]+)\/(\d{1,3})$/.exec(text);
  if (!m) return false;
  const family = isIP(m[1] as string);
  const bits = Number(m[2]);
  return (family === 4 && bits <= 32) || (family === 6 && bits <= 128);
}

function parseCidrs(name: string, value: string): string[] | { refuse: Refusal } {
  const expected = 'a comma-separated list of CIDRs such as 10.0.0.0/8';
  const items = value.split(',').map((c) => c.trim());
  if (items.length > MAX_LIST_ITEMS || !items.every(isCidr)) return invalid(name, value, expected);
  return [...new Set(items)];
}

function checkStatus(value: string): { refuse: Refusal } | undefined {
  const expected = 'the JSON object the webhook writes';
  if (value.length > MAX_STATUS_LENGTH || /[\u0000-\u001f]/.test(value)) return invalid(STATUS_ANNOTATION, value, expected);
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return invalid(STATUS_ANNOTATION, value, expected);
  } catch {
    return invalid(STATUS_ANNOTATION, value, expected);
  }
  return undefined;
}

/** Validates every mayfly.dev/ annotation and returns what they ask for. */
export function readOptions(pod: Pod, settings: InjectSettings): PodOptions | { refuse: Refusal } {
  const annotations = annotationsOf(pod);
  const options: PodOptions = { mode: settings.mode, excludeOutboundPorts: [], excludeOutboundCidrs: [] };
  for (const [name, value] of Object.entries(annotations)) {
    if (!name.startsWith(ANNOTATION_PREFIX)) continue;
    if (!KNOWN_ANNOTATIONS.includes(name)) {
      return { refuse: { code: 'UnknownAnnotation', message: `annotation ${quote(name)} is not a Mayfly annotation; known: ${KNOWN_ANNOTATIONS.join(', ')}` } };
    }
    if (typeof value !== 'string') return invalid(name, String(value), 'a string');
    switch (name) {
      case INJECT_ANNOTATION:
        if (value !== 'true' && value !== 'false') return invalid(name, value, '"true" or "false"');
        break;
      case STATUS_ANNOTATION: {
        const refused = checkStatus(value);
        if (refused) return refused;
        break;
      }
      case MODE_ANNOTATION:
        if (value === 'explicit') options.mode = 'explicit';
        else if (value !== 'transparent') return invalid(name, value, '"explicit" or "transparent"');
        else if (settings.mode !== 'transparent') return invalid(name, value, '"explicit": this install does not allow transparent capture');
        break;
      case EXCLUDE_PORTS_ANNOTATION: {
        const ports = parsePorts(name, value);
        if (!Array.isArray(ports)) return ports;
        options.excludeOutboundPorts = ports;
        break;
      }
      case EXCLUDE_CIDRS_ANNOTATION: {
        const cidrs = parseCidrs(name, value);
        if (!Array.isArray(cidrs)) return cidrs;
        options.excludeOutboundCidrs = cidrs;
        break;
      }
    }
  }
  return options;
}
