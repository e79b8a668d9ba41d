// The webhook's catalogue of coded errors, and the one table that maps a code
// to an HTTP status. Errors are for malformed input and broken setup only;
// a pod that is skipped or refused is a result, not an error.

export type WebhookErrorCode =
  | 'ERR_MALFORMED_POD' // the object under review is not a pod we can read
  | 'ERR_MALFORMED_REVIEW' // the request body is not an AdmissionReview v1
  | 'ERR_UNSUPPORTED_KIND' // an AdmissionReview for something other than a pod CREATE
  | 'ERR_POLICIES_UNAVAILABLE' // the policy source failed
  | 'ERR_INVALID_CONFIG' // the webhook's configuration is invalid
  | 'ERR_CERTIFICATE'; // the serving certificate could not be made or read

export class WebhookError extends Error {
  readonly code: WebhookErrorCode;
  constructor(code: WebhookErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WebhookError';
    this.code = code;
  }
}

export const HTTP_STATUS: Record<WebhookErrorCode, number> = {
  ERR_MALFORMED_POD: 400,
  ERR_MALFORMED_REVIEW: 400,
  ERR_UNSUPPORTED_KIND: 400,
  ERR_POLICIES_UNAVAILABLE: 503,
  ERR_INVALID_CONFIG: 500,
  ERR_CERTIFICATE: 500,
};

export function isWebhookError(err: unknown): err is WebhookError {
  return err instanceof WebhookError;
}
