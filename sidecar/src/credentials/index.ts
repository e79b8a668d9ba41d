// The credential layer: projected tokens in, short-lived credentials out.
export { createCredentialSource, type CredentialSourceOptions } from './factory.ts';
export { CredentialCache, type CacheOptions } from './cache.ts';
export { systemClock, type Clock } from './clock.ts';
export { CounterMetrics, promCredentialMetrics, type CredentialMetrics, type CredentialEvent } from './metrics.ts';
export { createFileTokenSource, decodeExpiry, type TokenSource, type ProjectedToken, type FileTokenSourceOptions } from './token-source.ts';
export { DEFAULT_TOKEN_DIR, sanitizeAudience, tokenPath, tokenRelativePath } from './token-paths.ts';
export { signAwsRequest, SigV4Error, type AwsRequest, type SignOptions, type SignedAwsRequest } from './sigv4.ts';
export { verifyMayflyToken, remoteJWKS, TokenError, type MayflyTokenClaims, type VerifyOptions } from './verify.ts';
export type { Provider } from './providers/types.ts';
