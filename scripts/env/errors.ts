/** Errors raised by the local test environment. Each has a stable `code`; callers branch on it, never on text. */

export class EnvError extends Error {
  override readonly name: string = "EnvError";
  readonly code: string = "EF_ERR_ENV";
}

/** A required program is not installed or not built yet. */
export class MissingBinaryError extends EnvError {
  override readonly name = "MissingBinaryError";
  override readonly code = "EF_ERR_ENV_MISSING_BINARY";
}

/** A component did not become healthy within its start timeout. */
export class StartTimeoutError extends EnvError {
  override readonly name = "StartTimeoutError";
  override readonly code = "EF_ERR_ENV_START_TIMEOUT";
}

/** A component's process exited while it was expected to run. */
export class ProcessExitedError extends EnvError {
  override readonly name = "ProcessExitedError";
  override readonly code = "EF_ERR_ENV_PROCESS_EXITED";
}

/** A helper command (ctr, tar, ...) failed. */
export class CommandFailedError extends EnvError {
  override readonly name = "CommandFailedError";
  override readonly code = "EF_ERR_ENV_COMMAND_FAILED";
}
