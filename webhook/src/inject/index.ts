export { inject, selectedPolicies } from './inject.ts';
export { defaultSettings, checkSettings, settingsProblems, DEFAULT_SIDECAR_UID } from './settings.ts';
export { assertPod } from './pod-schema.ts';
export * from './types.ts';
