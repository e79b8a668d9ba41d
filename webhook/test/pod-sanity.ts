// Structural checks of an injected pod: what the API server would reject
// (duplicate names, mounts of missing volumes, ...) and what Mayfly promises
// (tokens only in the sidecar, the CA read-only in every app container, the
// sidecar started before the app). Returns every problem found.
import { STATUS_ANNOTATION } from '@mayfly/crds';
import type { Container, Pod } from '@mayfly/webhook';
import { CA_DIR, CA_VOLUME, INIT_CONTAINER_NAME, PODINFO_VOLUME, SIDECAR_CONTAINER_NAME, TOKEN_VOLUME } from '@mayfly/webhook/inject/paths';

const TRUST_VARS = ['SSL_CERT_FILE', 'NODE_EXTRA_CA_CERTS', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'AWS_CA_BUNDLE'];

function duplicates(names: string[]): string[] {
  return names.filter((n, i) => names.indexOf(n) !== i);
}

export function podProblems(pod: Pod): string[] {
  const problems: string[] = [];
  const spec = pod.spec;
  if (!spec) return ['no spec'];
  const init = spec.initContainers ?? [];
  const all: Container[] = [...init, ...spec.containers];
  const volumes = new Set((spec.volumes ?? []).map((v) => v.name));

  for (const d of duplicates(all.map((c) => c.name))) problems.push(`duplicate container name ${d}`);
  for (const d of duplicates((spec.volumes ?? []).map((v) => v.name))) problems.push(`duplicate volume ${d}`);
  if (spec.containers.length === 0) problems.push('no containers');
  for (const c of all) {
    if (!c.image) problems.push(`${c.name}: no image`);
    for (const d of duplicates((c.env ?? []).map((e) => e.name))) problems.push(`${c.name}: duplicate env ${d}`);
    for (const d of duplicates((c.volumeMounts ?? []).map((m) => m.mountPath))) problems.push(`${c.name}: duplicate mountPath ${d}`);
    for (const m of c.volumeMounts ?? []) if (!volumes.has(m.name)) problems.push(`${c.name}: mounts missing volume ${m.name}`);
    for (const e of c.env ?? []) if ((e.value === undefined) === (e.valueFrom === undefined) && e.value !== undefined) problems.push(`${c.name}: env ${e.name} has value and valueFrom`);
  }

  const sidecars = all.filter((c) => c.name === SIDECAR_CONTAINER_NAME);
  if (sidecars.length !== 1) return [...problems, `expected one sidecar, found ${sidecars.length}`];
  const sidecar = sidecars[0] as Container;
  const native = init.includes(sidecar);
  if (native && (sidecar.restartPolicy !== 'Always' || !sidecar.startupProbe)) problems.push('native sidecar needs restartPolicy Always and a startup probe');
  if (!native && (spec.containers[0] !== sidecar || !sidecar.lifecycle?.postStart)) problems.push('fallback sidecar must be the first container with a postStart hold');
  const sc = sidecar.securityContext;
  if (!sc?.runAsNonRoot || !sc.readOnlyRootFilesystem || sc.allowPrivilegeEscalation !== false || !sc.capabilities?.drop?.includes('ALL') || sc.capabilities.add) {
    problems.push('sidecar security context is not hardened');
  }

  const tokenVolume = spec.volumes?.find((v) => v.name === TOKEN_VOLUME);
  const sources = tokenVolume?.projected?.sources ?? [];
  if (sources.length === 0) problems.push('no projected token volume');
  for (const s of sources) {
    const t = s.serviceAccountToken;
    if (!t || (t.expirationSeconds ?? 0) < 600 || !t.audience) problems.push('token source without audience or with expirationSeconds < 600');
  }
  if (!sources.some((s) => s.serviceAccountToken?.audience === 'mayfly')) problems.push('no token for the mayfly audience');
  const ca = spec.volumes?.find((v) => v.name === CA_VOLUME);
  if (ca?.emptyDir?.medium !== 'Memory') problems.push('the CA volume is not in memory');
  if (!spec.volumes?.some((v) => v.name === PODINFO_VOLUME && v.downwardAPI)) problems.push('no downward API volume');

  for (const c of all) {
    if (c === sidecar) continue;
    for (const m of c.volumeMounts ?? []) {
      if (m.name === TOKEN_VOLUME || m.name === PODINFO_VOLUME) problems.push(`${c.name}: mounts the sidecar's ${m.name}`);
      if (m.name === CA_VOLUME && (m.readOnly !== true || m.mountPath !== CA_DIR)) problems.push(`${c.name}: CA mount is not read-only at ${CA_DIR}`);
    }
  }
  for (const c of native ? all : spec.containers) {
    if (c === sidecar || c.name === INIT_CONTAINER_NAME) continue;
    if (!c.volumeMounts?.some((m) => m.name === CA_VOLUME)) problems.push(`${c.name}: no CA mount`);
    for (const v of TRUST_VARS) if (!c.env?.some((e) => e.name === v && e.value)) problems.push(`${c.name}: no ${v}`);
  }

  const capture = all.find((c) => c.name === INIT_CONTAINER_NAME);
  if (capture) {
    const add = capture.securityContext?.capabilities?.add ?? [];
    if (add.join(',') !== 'NET_ADMIN,NET_RAW' || capture.securityContext?.privileged) problems.push('capture step has more than NET_ADMIN/NET_RAW');
    if (native && init[0] !== capture) problems.push('capture step is not the first init container');
    if (!native && init.at(-1) !== capture) problems.push('capture step is not the last init container (fallback)');
  }
  try {
    const status = JSON.parse(pod.metadata?.annotations?.[STATUS_ANNOTATION] ?? '') as { version?: number };
    if (status.version !== 1) problems.push('status annotation has no version 1');
  } catch {
    problems.push('no valid status annotation');
  }
  return problems;
}
