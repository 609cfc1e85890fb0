/** Errors of the wire protocol. Each has a stable `code`; callers branch on it, never on text. */

export class ProtocolError extends Error {
  override readonly name: string = "ProtocolError";
  readonly code: string = "EF_ERR_PROTOCOL";
}

/** A frame was rejected by the decoder; `field` names the offending JSON path when there is one. */
export class FrameError extends ProtocolError {
  override readonly name = "FrameError";
  constructor(
    override readonly code: "EF_ERR_FRAME_TOO_LARGE" | "EF_ERR_FRAME_NOT_JSON" | "EF_ERR_FRAME_INVALID",
    message: string,
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A resource string is not of the expected form. */
export class ResourceError extends ProtocolError {
  override readonly name = "ResourceError";
  override readonly code = "EF_ERR_RESOURCE";
}

/** A certificate signing request whose self-signature does not verify. */
export class CsrSignatureError extends ProtocolError {
  override readonly name = "CsrSignatureError";
  override readonly code = "EF_ERR_CSR_SIGNATURE";
}
