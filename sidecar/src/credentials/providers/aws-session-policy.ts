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

/** Object ARN patterns and list prefixes for a bucket's path rules; path-style rules carry the bucket as first segment. */
function scopeOf(bucket: string, paths: PathRule[] | null): { objects: string[]; listAll: boolean; listPrefixes: string[]; buckets: Set<string> } {
  const out = { objects: [] as string[], listAll: false, listPrefixes: [] as string[], buckets: new Set<string>() };
  const rules = paths ?? [{ prefix: '/' }];
  for (const rule of rules) {
    let path = 'exact' in rule ? rule.exact : rule.prefix;
    let b = bucket;
    if (b === '') {
      // Path style: /bucket/key
      const [, first = '', ...rest] = path.split('/');
      if (first === '') return { objects: ['arn:aws:s3:::*'], listAll: true, listPrefixes: [], buckets: new Set(['*']) };
      b = first;
      path = `/${rest.join('/')}`;
      if ('exact' in rule && rest.length === 0) path = '/';
    }
    out.buckets.add(b);
    const key = path.replace(/^\//, '');
    if ('prefix' in rule) {
      out.objects.push(`arn:aws:s3:::${b}/${key}*`);
      if (key === '') out.listAll = true;
      else out.listPrefixes.push(`${key}*`);
    } else if (key === '') {
      out.listAll = true;
    } else {
      out.objects.push(`arn:aws:s3:::${b}/${key}`);
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
    const scope = scopeOf(bucket, d.paths);
    const actions = objectActions(methods);
    if (actions.length > 0 && scope.objects.length > 0) statements.push({ Effect: 'Allow', Action: actions, Resource: [...new Set(scope.objects)].sort() });
    const reads = methods.includes('GET') || methods.includes('HEAD');
    const bucketArns = [...scope.buckets].map((b) => (b === '*' ? 'arn:aws:s3:::*' : `arn:aws:s3:::${b}`)).sort();
    if (reads && scope.listAll) statements.push({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArns });
    else if (reads && scope.listPrefixes.length > 0) statements.push({ Effect: 'Allow', Action: ['s3:ListBucket'], Resource: bucketArns, Condition: { StringLike: { 's3:prefix': [...new Set(scope.listPrefixes)].sort() } } });
  }
  if (statements.length === 0) return null;
  if (others) statements.push({ Effect: 'Allow', NotAction: 's3:*', Resource: '*' });
  return JSON.stringify({ Version: '2012-10-17', Statement: statements });
}
