export * from './names.ts';
export * from './types.ts';
export { crd, CRD_PATH, workloadPolicySchema, type SchemaNode, type CelRule, type CustomResourceDefinition } from './crd.ts';
export { validateWorkloadPolicy, toFieldPath, type FieldError, type ValidationResult } from './validate.ts';
export { parseDocuments, type ParsedDocument } from './documents.ts';
export * from './compile.ts';
export { loadPolicies, type LoadedPolicy } from './load.ts';
export { DEFAULT_TOKEN_DIR, TOKEN_FILE, sanitizeAudience, tokenRelativePath, tokenPath } from './token-paths.ts';
