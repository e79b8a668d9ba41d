// Reads YAML or JSON text holding one or more Kubernetes objects: multi-document
// YAML, a JSON object, a JSON array, or a `kind: List`.
import { parseAllDocuments } from 'yaml';

export interface ParsedDocument {
  /** 0-based position of the object in the input. */
  index: number;
  object?: unknown;
  /** A syntax error in this document, when it could not be parsed. */
  error?: string;
}

export function parseDocuments(text: string): ParsedDocument[] {
  const out: ParsedDocument[] = [];
  for (const doc of parseAllDocuments(text, { prettyErrors: false })) {
    if (doc.errors.length > 0) {
      out.push({ index: out.length, error: doc.errors.map((e) => e.message).join('; ') });
      continue;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const items = Array.isArray(value)
      ? value
      : isList(value)
        ? (value.items as unknown[])
        : [value];
    for (const object of items) out.push({ index: out.length, object });
  }
  return out;
}

function isList(v: unknown): v is { items: unknown[] } {
  const o = v as Record<string, unknown>;
  return typeof o === 'object' && typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items);
}
