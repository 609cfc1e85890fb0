import * as redlockModule from "redlock";
import type RedlockClass from "../../node_modules/redlock/dist/index.js";
import type {
  ExecutionError as ExecutionErrorClass,
  Lock as LockClass,
} from "../../node_modules/redlock/dist/index.js";

// The module is untyped at its import (see types/redlock.d.ts); these casts restore its own types.
const runtime = redlockModule as unknown as {
  default: typeof RedlockClass;
  ExecutionError: typeof ExecutionErrorClass;
};

export const Redlock: typeof RedlockClass = runtime.default;
export const ExecutionError: typeof ExecutionErrorClass = runtime.ExecutionError;
export type Redlock = RedlockClass;
export type Lock = LockClass;
