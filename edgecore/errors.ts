/** edgecore's errors. Each has a stable `code`; callers branch on it, never on text. */

export class EdgecoreError extends Error {
  override readonly name: string = "EdgecoreError";
  readonly code: string = "EF_ERR_EDGECORE";
}

/** Joining the cloud failed; `status` is the certificate server's HTTP status when it answered. */
export class JoinError extends EdgecoreError {
  override readonly name = "JoinError";
  override readonly code = "EF_ERR_JOIN";
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A request to the cloud got no response in time. */
export class RequestTimeoutError extends EdgecoreError {
  override readonly name = "RequestTimeoutError";
  override readonly code = "EF_ERR_REQUEST_TIMEOUT";
}

/** edgehub was closed while a request was waiting. */
export class EdgeHubClosedError extends EdgecoreError {
  override readonly name = "EdgeHubClosedError";
  override readonly code = "EF_ERR_EDGEHUB_CLOSED";
}
