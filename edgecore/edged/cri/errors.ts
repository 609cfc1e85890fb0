/** Errors of the CRI client. Each has a stable `code`; callers branch on it (and on `grpcCode`). */
import { status as GrpcStatus } from "@grpc/grpc-js";
import { EdgecoreError } from "../../errors.js";

/**
 * The runtime answered a CRI call with a gRPC error, or the call ended without an answer
 * (DEADLINE_EXCEEDED for the per-call deadline, CANCELLED for an aborted signal, UNAVAILABLE when
 * the socket does not answer).
 */
export class CriError extends EdgecoreError {
  override readonly name = "CriError";
  override readonly code = "EF_ERR_CRI";
  /** The gRPC status code, e.g. `status.NOT_FOUND` (5) from @grpc/grpc-js. */
  readonly grpcCode: GrpcStatus;
  /** Its name, e.g. "NOT_FOUND" (for logs and test assertions). */
  readonly grpcCodeName: string;

  constructor(
    /** The CRI method, e.g. "ContainerStatus". */
    readonly method: string,
    grpcCode: GrpcStatus,
    /** The runtime's own text; for people, not for branching. */
    readonly details: string,
    options?: { cause?: unknown },
  ) {
    const grpcCodeName = GrpcStatus[grpcCode] ?? `code ${grpcCode}`;
    super(`CRI ${method}: ${grpcCodeName}: ${details}`, options);
    this.grpcCode = grpcCode;
    this.grpcCodeName = grpcCodeName;
  }
}

/** A call made after close() or destroy(), or cut short by destroy(). */
export class CriClosedError extends EdgecoreError {
  override readonly name = "CriClosedError";
  override readonly code = "EF_ERR_CRI_CLOSED";
}

/** The runtime's answer lacks what CRI promises (e.g. a ContainerStatus response without status). */
export class CriProtocolError extends EdgecoreError {
  override readonly name = "CriProtocolError";
  override readonly code = "EF_ERR_CRI_PROTOCOL";
}

/** runtime-v1.proto was found neither beside the module nor in the source tree. */
export class CriProtoNotFoundError extends EdgecoreError {
  override readonly name = "CriProtoNotFoundError";
  override readonly code = "EF_ERR_CRI_PROTO_NOT_FOUND";
}
