// An inline session policy that scopes AWS temporary credentials down to what
// the WorkloadPolicy allows. IAM actions are service-specific, so only S3, whose
// method + path map onto actions and object ARNs, is narrowed: GET/HEAD to
// s3:GetObject (and s3:ListBucket where a path rule covers the bucket root or a
// prefix), PUT/POST to s3:PutObject, DELETE to s3:DeleteObject, each on the
// objects under the allowed paths. Traffic to other services keeps the role's
// own permissions (a NotAction statement), and the sidecar still enforces
// methods and paths on every request. Pure.
import type { CompiledDestination, CompiledPolicy, Method, PathRule } from '@mayfly/crds';

interface Statement {
  Effect: 'Allow';
  Action?: string[];
  NotAction?: string;
  Resource: string | string[];
  Condition?: Record<string, Record<string, string[]>>;
}

const ALL_METHODS: Method[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** The bucket of a virtual-hosted S3 name, '' for a path-style endpoint, null when it is not S3 (or a wildcard). */
export function s3Bucket(d: CompiledDestination): string | null {
  if (d.wildcard) return null;
  const m = /^(?:(.+)\.)?s3(?:[.-](?:dualstack\.)?[a-z0-9-]+)?\.amazonaws\.com$/.exec(d.host);
  if (!m) return null;
  return m[1] ?? '';
}

function objectActions(methods: Method[]): string[] {
  const out = new Set<string>();
  for (const m of methods) {
    if (m === 'GET' || m === 'HEAD') out.add('s3:GetObject');
    if (m === 'PUT' || m === 'POST') out.add('s3:PutObject');
    if (m === 'DELETE') out.add('s3:DeleteObject');
  }
  return [...out].sort();
}

interface BucketScope {
  objects: Set<string>;
  listAll: boolean;
  listPrefixes: Set<string>;
}

/** Per bucket: object ARN patterns and what may be listed. Path-style rules carry the bucket as first segment. */
function scopeOf(bucket: string, paths: PathRule[] | null): Map<string, BucketScope> {
  const out = new Map<string, BucketScope>();
  const of = (b: string) => {
    let s = out.get(b);
    if (!s) {
      s = { objects: new Set(), listAll: false, listPrefixes: new Set() };
      out.set(b, s);
    }
    return s;
  };
  for (const rule of paths ?? [{ prefix: '/' }]) {
    let path = 'exact' in rule ? rule.exact : rule.prefix;
    let b = bucket;
    if (b === '') {
      const [, first = '', ...rest] = path.split('/');
      // A path-style rule for "/" or "/*" covers every bucket.
      b = first === '' ? '*' : first;
      path = `/${rest.join('/')}`;
    }
    const s = of(b);
    const key = path.replace(/^\//, '');
    if ('prefix' in rule || b === '*') {
      s.objects.add(`arn:aws:s3:::${b}/${key}*`);
      if (key === '') s.listAll = true;
      else s.listPrefixes.add(`${key}*`);
    } else if (key === '') {
      s.listAll = true;
    } else {
      s.objects.add(`arn:aws:s3:::${b}/${key}`);
    }
  }
  return out;
}

/** The session policy JSON, or null when nothing in the policy can be narrowed. */
export function sessionPolicy(policy: CompiledPolicy): string | null {
  const statements: Statement[] = [];
  let others = false;
  for (const d of policy.destinations) {
    const bucket = s3Bucket(d);
    if (bucket === null) {
      others = true;
      continue;
    }
    const methods = d.methods ?? ALL_METHODS;
    const scopes = scopeOf(bucket, d.paths);
    const actions = objectActions(methods);
    const objects = [...scopes.values()].flatMap((sc) => [...sc.objects]);
    if (actions.length > 0 && objects.length > 0) statements.push({ Effect: 'Allow', Action: actions, Resource: [...new Set(objects)].sort() });
    if (!methods.includes('GET') && !methods.includes('HEAD')) continue;
    const arn = (b: string) => (b === '*' ? 'arn:aws:s3:::*' : `arn:aws:s3:::${b}`);
    const listAll = [...scopes].filter(([, sc]) => sc.listAll).map(([b]) => arn(b)).sort();
    if (listAll.length > 0) statements.push({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: listAll });
    for (const [b, sc] of [...scopes].sort(([a], [z]) => a.localeCompare(z))) {
      if (!sc.listAll && sc.listPrefixes.size > 0) statements.push({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [arn(b)], Condition: { StringLike: { 's3:prefix': [...sc.listPrefixes].sort() } } });
    }
  }
  if (statements.length === 0) return null;
  if (others) statements.push({ Effect: 'Allow', NotAction: 's3:*', Resource: '*' });
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}
