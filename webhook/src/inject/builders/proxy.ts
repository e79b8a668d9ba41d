// Explicit mode: no capture rules; app containers get proxy variables pointing
// at the sidecar. An app that ignores them simply gets no credentials.
import type { V1EnvVar } from '@kubernetes/client-node';
import type { Plan, Pod } from '../types.ts';
import { appContainers, literal, setEnv } from './containers.ts';

export function proxyEnv(plan: Plan): V1EnvVar[] {
  const proxy = `http://127.0.0.1:${plan.settings.ports.proxy}`;
  const noProxy = ['localhost', '127.0.0.1', '::1', ...plan.settings.excludeOutboundCidrs, ...plan.options.excludeOutboundCidrs].join(',');
  return [
    literal('HTTP_PROXY', proxy),
    literal('HTTPS_PROXY', proxy),
    literal('NO_PROXY', noProxy),
    literal('http_proxy', proxy),
    literal('https_proxy', proxy),
    literal('no_proxy', noProxy),
  ];
}

export function addProxyEnv(pod: Pod, plan: Plan): void {
  for (const c of appContainers(pod, plan)) setEnv(c, proxyEnv(plan));
}
