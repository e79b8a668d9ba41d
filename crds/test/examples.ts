// The example policies under crds/examples/, shared by the offline and the
// API-server tests. Each invalid example names the field it must be rejected at.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse } from 'yaml';

export const EXAMPLES = fileURLToPath(new URL('../examples/', import.meta.url));
export const EXPECT_FIELD = 'test.mayfly.dev/expect-field';

export interface Example {
  file: string;
  path: string;
  text: string;
  object: { metadata: { name: string; annotations?: Record<string, string> } };
  expectField?: string;
}

export function examples(kind: 'valid' | 'invalid'): Example[] {
  const dir = join(EXAMPLES, kind);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const path = join(dir, file);
      const text = readFileSync(path, 'utf8');
      const object = parse(text) as Example['object'];
      const expectField = object.metadata.annotations?.[EXPECT_FIELD];
      return { file, path, text, object, ...(expectField ? { expectField } : {}) };
    });
}
