// "Stored exactly as the golden file says", allowing only what the API server
// itself adds: defaults (extra fields) and the ServiceAccount admission plugin's
// kube-api-access volume and mounts. Lists of named things are matched by name
// (mounts by mountPath) and must keep the golden order.
const SERVER_ADDED = (key: string) => /^kube-api-access-/.test(key) || key === '/var/run/secrets/kubernetes.io/serviceaccount';

function keyOf(item: unknown): string | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const o = item as Record<string, unknown>;
  if (typeof o.mountPath === 'string') return o.mountPath;
  if (typeof o.name === 'string') return o.name;
  return undefined;
}

export function subsetProblems(expected: unknown, actual: unknown, path = ''): string[] {
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return [`${path}: expected a list`];
    const keys = expected.map(keyOf);
    if (keys.every((k) => k !== undefined)) {
      const byKey = new Map(actual.map((a) => [keyOf(a), a]));
      const problems: string[] = [];
      for (const [i, e] of expected.entries()) {
        const k = keys[i] as string;
        if (!byKey.has(k)) problems.push(`${path}[${k}]: missing`);
        else problems.push(...subsetProblems(e, byKey.get(k), `${path}[${k}]`));
      }
      const extra = actual.map(keyOf).filter((k) => k === undefined || (!keys.includes(k) && !SERVER_ADDED(k)));
      if (extra.length > 0) problems.push(`${path}: unexpected ${extra.join(', ')}`);
      const order = actual.map(keyOf).filter((k) => k !== undefined && keys.includes(k));
      if (order.join('|') !== keys.join('|')) problems.push(`${path}: order ${order.join(',')} != ${keys.join(',')}`);
      return problems;
    }
    if (expected.length !== actual.length) return [`${path}: length ${actual.length} != ${expected.length}`];
    return expected.flatMap((e, i) => subsetProblems(e, actual[i], `${path}[${i}]`));
  }
  if (typeof expected === 'object' && expected !== null) {
    if (typeof actual !== 'object' || actual === null) return [`${path}: expected an object`];
    return Object.entries(expected).flatMap(([k, v]) => subsetProblems(v, (actual as Record<string, unknown>)[k], `${path}.${k}`));
  }
  return expected === actual ? [] : [`${path}: ${JSON.stringify(actual)} != ${JSON.stringify(expected)}`];
}
