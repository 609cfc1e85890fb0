/** cloudcore's errors. Each has a stable `code`; foreign errors are wrapped where they enter. */

export class CloudcoreError extends Error {
  override readonly name: string = "CloudcoreError";
  readonly code: string = "EF_ERR_CLOUDCORE";
}

/** A join token was missing, malformed, badly signed, expired or revoked. */
export class JoinTokenError extends CloudcoreError {
  override readonly name = "JoinTokenError";
  override readonly code = "EF_ERR_JOIN_TOKEN";
}

/** A certificate request was refused (bad CSR, wrong node name, unknown client certificate). */
export class CertificateRequestError extends CloudcoreError {
  override readonly name = "CertificateRequestError";
  override readonly code = "EF_ERR_CERT_REQUEST";
}

/** The apiserver refused or failed a request cloudcore needed. */
export class ApiserverError extends CloudcoreError {
  override readonly name: string = "ApiserverError";
  override readonly code: string = "EF_ERR_APISERVER";
}

/** HTTP status of a @kubernetes/client-node ApiException, or undefined for other errors. */
export function apiStatus(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "number")
    return err.code;
  return undefined;
}

/** A CRD cloudcore needs is missing or never became Established. */
export class CrdNotReadyError extends CloudcoreError {
  override readonly name = "CrdNotReadyError";
  override readonly code = "EF_ERR_CRD_NOT_READY";
}
