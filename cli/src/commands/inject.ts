// mayfly inject -f FILE [--policies FILE] [--mode transparent|explicit] [--image IMAGE]
//               [--no-native-sidecars] [-n NAMESPACE] [-o yaml|json]
// Prints the objects with the Mayfly sidecar injected into every pod and pod
// template (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob),
// with the same inject() the webhook runs. Other objects pass through unchanged.
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { loadPolicies, parseDocuments, type CompiledPolicy } from '@mayfly/crds';
import { checkSettings, defaultSettings, inject, type InjectSettings, type Pod } from '@mayfly/webhook/inject/index';
import { isWebhookError } from '@mayfly/webhook/errors';
import { readInput, type Command } from '../command.ts';

const USAGE = 'usage: mayfly inject -f FILE [-f FILE ...] [--policies FILE] [--mode transparent|explicit] [--image IMAGE] [--no-native-sidecars] [-n NAMESPACE] [-o yaml|json]\n';

type K8sObject = { kind?: unknown; metadata?: { name?: string; namespace?: string }; spec?: Record<string, unknown> };
interface Template { metadata?: Pod['metadata']; spec?: Pod['spec'] }

/** Where the pod (template) of an object lives, or undefined for objects without one. */
function templateOf(o: K8sObject): { get(): Template; set(t: Template): void } | undefined {
  const spec = o.spec as Record<string, unknown> | undefined;
  switch (o.kind) {
    case 'Pod':
      return { get: () => o as Template, set: (t) => Object.assign(o, t) };
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'ReplicationController':
    case 'Job':
      if (!spec?.template) return undefined;
      return { get: () => spec.template as Template, set: (t) => { spec.template = t; } };
    case 'CronJob': {
      const jobSpec = (spec?.jobTemplate as { spec?: Record<string, unknown> } | undefined)?.spec;
      if (!jobSpec?.template) return undefined;
      return { get: () => jobSpec.template as Template, set: (t) => { jobSpec.template = t; } };
    }
    default:
      return undefined;
  }
}

function describe(o: K8sObject): string {
  return `${String(o.kind ?? 'object')}/${o.metadata?.name ?? '(unnamed)'}`;
}

export const command: Command = async (argv, io) => {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        policies: { type: 'string', short: 'p', multiple: true },
        mode: { type: 'string' },
        image: { type: 'string' },
        'no-native-sidecars': { type: 'boolean', default: false },
        namespace: { type: 'string', short: 'n', default: 'default' },
        output: { type: 'string', short: 'o', default: 'yaml' },
      },
    }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const files = values.filename ?? [];
  if (files.length === 0 || !['yaml', 'json'].includes(values.output ?? 'yaml') || (values.mode && !['transparent', 'explicit'].includes(values.mode))) {
    io.stderr.write(USAGE);
    return 2;
  }
  let settings: InjectSettings;
  try {
    settings = checkSettings(defaultSettings({
      ...(values.mode ? { mode: values.mode as InjectSettings['mode'] } : {}),
      ...(values.image ? { image: values.image } : {}),
      nativeSidecars: !values['no-native-sidecars'],
    }));
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }

  const policies: CompiledPolicy[] = [];
  for (const file of values.policies ?? []) {
    let text: string;
    try {
      text = await readInput(file, io.cwd);
    } catch (err) {
      io.stderr.write(`${file}: ${(err as Error).message}\n`);
      return 1;
    }
    for (const p of loadPolicies(text, values.namespace)) {
      if (!p.compiled) {
        io.stderr.write(`${file}: ${p.name}: invalid policy: ${p.errors.map((e) => `${e.path || '(object)'}: ${e.message}`).join('; ')}\n`);
        return 1;
      }
      policies.push(p.compiled);
    }
  }

  const out: unknown[] = [];
  let failed = false;
  for (const file of files) {
    let text: string;
    try {
      text = await readInput(file, io.cwd);
    } catch (err) {
      io.stderr.write(`${file}: ${(err as Error).message}\n`);
      return 1;
    }
    for (const doc of parseDocuments(text)) {
      if (doc.error !== undefined) {
        io.stderr.write(`${file}: document ${doc.index + 1}: not YAML or JSON: ${doc.error}\n`);
        failed = true;
        continue;
      }
      const object = doc.object as K8sObject;
      out.push(object);
      const slot = object && typeof object === 'object' ? templateOf(object) : undefined;
      if (!slot) continue;
      const template = slot.get();
      const namespace = object.metadata?.namespace ?? values.namespace ?? 'default';
      const pod = { ...template, metadata: { ...template.metadata, namespace } } as Pod;
      try {
        const result = inject(pod, { settings, policies });
        if ('skip' in result) {
          io.stderr.write(`${file}: ${describe(object)}: not injected (${result.skip.code}): ${result.skip.message}\n`);
        } else if ('refuse' in result) {
          io.stderr.write(`${file}: ${describe(object)}: refused (${result.refuse.code}): ${result.refuse.message}\n`);
          failed = true;
        } else {
          const injected = result.pod;
          if (template.metadata?.namespace === undefined && injected.metadata) delete injected.metadata.namespace;
          slot.set(injected as Template);
        }
      } catch (err) {
        if (!isWebhookError(err)) throw err;
        io.stderr.write(`${file}: ${describe(object)}: ${err.message}\n`);
        failed = true;
      }
    }
  }
  if (values.output === 'json') io.stdout.write(`${JSON.stringify(out.length === 1 ? out[0] : { apiVersion: 'v1', kind: 'List', items: out }, null, 2)}\n`);
  else io.stdout.write(out.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
  return failed ? 1 : 0;
};
