// The token layout is shared with the webhook, so it lives in @mayfly/crds.
export { DEFAULT_TOKEN_DIR, TOKEN_FILE, sanitizeAudience, tokenRelativePath, tokenPath } from '@mayfly/crds/token-paths';
