export * from './inject/index.ts';
export * from './errors.ts';
export * from './annotations.ts';
