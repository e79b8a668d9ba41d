// The injection settings: defaults, and a check that a settings object is
// complete and sane. The controller parses its config once and passes the
// frozen result; `mayfly inject` starts from the defaults and its flags.
import { WebhookError } from '../errors.ts';
import { isCidr } from './options.ts';
import { DEFAULT_PORTS } from './paths.ts';
import type { InjectSettings } from './types.ts';

export const DEFAULT_SIDECAR_UID = 1337;

export function defaultSettings(overrides: Partial<InjectSettings> = {}): InjectSettings {
  return {
    image: 'ghcr.io/mayfly-dev/mayfly:0.1.0',
    imagePullPolicy: 'IfNotPresent',
    sidecarUid: DEFAULT_SIDECAR_UID,
    ports: { ...DEFAULT_PORTS },
    capturePorts: [80, 443],
    mode: 'transparent',
    resources: {
      sidecar: { requests: { cpu: '50m', memory: '64Mi' }, limits: { memory: '256Mi' } },
      init: { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '100m', memory: '64Mi' } },
    },
    // The Kubernetes API's service IP: clients reach it by IP and send no SNI.
    excludeOutboundCidrs: ['10.96.0.1/32'],
    excludeOutboundPorts: [],
    controllerUrl: 'https://mayfly-controller.mayfly-system.svc:8443',
    controllerCa: '',
    brokerIssuer: '',
    providerCa: '',
    nativeSidecars: true,
    mayflyNamespace: 'mayfly-system',
    tokenExpirationSeconds: 3600,
    ...overrides,
  };
}

/** Returns every problem with a settings object (empty when it is usable). */
export function settingsProblems(s: InjectSettings): string[] {
  const problems: string[] = [];
  const port = (n: number) => Number.isInteger(n) && n >= 1 && n <= 65535;
  if (!/^[a-z0-9][a-z0-9._\-/:@]*$/i.test(s.image)) problems.push(`image ${JSON.stringify(s.image)} is not an image reference`);
  if (!Number.isInteger(s.sidecarUid) || s.sidecarUid < 1) problems.push('sidecarUid must be a positive integer (not root)');
  for (const [name, n] of Object.entries(s.ports)) if (!port(n)) problems.push(`ports.${name} must be 1-65535`);
  if (new Set(Object.values(s.ports)).size !== 3) problems.push('ports must be distinct');
  if (s.capturePorts.length === 0 || !s.capturePorts.every(port)) problems.push('capturePorts must be a non-empty list of ports');
  if (!s.excludeOutboundPorts.every(port)) problems.push('excludeOutboundPorts must be ports');
  for (const c of s.excludeOutboundCidrs) if (!isCidr(c)) problems.push(`excludeOutboundCidrs: ${JSON.stringify(c)} is not a CIDR`);
  if (!/^https?:\/\/[^\s]+$/.test(s.controllerUrl)) problems.push('controllerUrl must be an http(s) URL');
  if (s.controllerCa !== '' && !s.controllerCa.includes('-----BEGIN CERTIFICATE-----')) problems.push('controllerCa must be PEM certificates or empty');
  if (s.providerCa !== '' && !s.providerCa.includes('-----BEGIN CERTIFICATE-----')) problems.push('providerCa must be PEM certificates or empty');
  if (!Number.isInteger(s.tokenExpirationSeconds) || s.tokenExpirationSeconds < 600) problems.push('tokenExpirationSeconds must be at least 600');
  if (s.mode !== 'transparent' && s.mode !== 'explicit') problems.push('mode must be transparent or explicit');
  return problems;
}

export function checkSettings(s: InjectSettings): InjectSettings {
  const problems = settingsProblems(s);
  if (problems.length > 0) throw new WebhookError('ERR_INVALID_CONFIG', `invalid injection settings: ${problems.join('; ')}`);
  return Object.freeze(s);
}
