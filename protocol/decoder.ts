import { z } from "zod";
import { FrameError } from "./errors.js";
import type { Message, MessageHeader, MessageRoute } from "./message.js";

/**
 * Largest frame accepted by default. KubeEdge sets no limit; the largest single objects it sends are
 * Secrets and ConfigMaps (1 MiB of data, more once JSON- and base64-encoded) and pod lists.
 */
export const DEFAULT_MAX_FRAME_BYTES = 8 * 1024 * 1024;

const MAX_ID = 128;
const MAX_SHORT = 256;
// A resource holds node, namespace, type and name, each at most 253 characters in Kubernetes.
const MAX_RESOURCE = 1100;

const optionalText = (max: number): z.ZodOptional<z.ZodString> => z.string().max(max).optional();

const headerSchema = z.object({
  msg_id: z.string().min(1, "must not be empty").max(MAX_ID),
  parent_msg_id: optionalText(MAX_ID),
  timestamp: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  resourceversion: optionalText(MAX_SHORT),
  sync: z.boolean().optional(),
  type: optionalText(MAX_SHORT),
});

const routeSchema = z.object({
  source: optionalText(MAX_SHORT),
  destination: optionalText(MAX_SHORT),
  group: optionalText(MAX_SHORT),
  operation: optionalText(MAX_SHORT),
  resource: optionalText(MAX_RESOURCE),
});

// Unknown fields are dropped, as Go's encoding/json ignores them; `route` and `content` may be
// missing (Go would leave them zero).
const messageSchema = z.object({
  header: headerSchema,
  route: routeSchema.optional(),
  content: z.unknown().optional(),
});

export interface DecodeOptions {
  readonly maxFrameBytes?: number;
}

function byteLength(frame: string | Uint8Array | ArrayBuffer): number {
  return typeof frame === "string" ? Buffer.byteLength(frame, "utf8") : frame.byteLength;
}

function toText(frame: string | Uint8Array | ArrayBuffer): string {
  if (typeof frame === "string") return frame;
  const bytes = frame instanceof Uint8Array ? frame : new Uint8Array(frame);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8");
}

/** Go's omitempty: an empty string is the same as an absent field. */
function withoutEmpty<T extends object>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v !== undefined && v !== "" && v !== false) out[key] = v;
  }
  return out as T;
}

/**
 * Decodes and validates one frame (one beehive message as JSON). Throws FrameError naming the
 * offending field; never throws anything else, whatever the input.
 */
export function decodeFrame(frame: string | Uint8Array | ArrayBuffer, options: DecodeOptions = {}): Message {
  const max = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  const size = byteLength(frame);
  if (size > max) {
    throw new FrameError("EF_ERR_FRAME_TOO_LARGE", `frame of ${size} bytes exceeds the ${max}-byte limit`);
  }
  let json: unknown;
  try {
    json = JSON.parse(toText(frame));
  } catch (err) {
    throw new FrameError("EF_ERR_FRAME_NOT_JSON", `frame is not JSON: ${(err as Error).message}`, undefined, {
      cause: err,
    });
  }
  const parsed = messageSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue && issue.path.length > 0 ? issue.path.join(".") : "(message)";
    throw new FrameError(
      "EF_ERR_FRAME_INVALID",
      `invalid frame: ${field}: ${issue?.message ?? "invalid"}`,
      field,
    );
  }
  const { header, route, content } = parsed.data;
  return {
    header: withoutEmpty(header) as MessageHeader,
    route: withoutEmpty(route ?? {}) as MessageRoute,
    content: content ?? null,
  };
}
