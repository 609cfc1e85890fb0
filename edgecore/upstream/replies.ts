/**
 * Reading the cloud's replies to the edge's requests. KubeEdge's cloud answers a failure in one of
 * three ways: an `error` operation whose content is the text, an ObjectResp whose `Err` holds a
 * metav1.Status (node, nodepatch, podpatch, lease), or a bare `{ErrStatus}` (queries, deletes).
 */
import { Operation } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";

export interface ReplyFailure {
  /** The HTTP status code of the apiserver's Status, when there is one. */
  readonly code: number | undefined;
  readonly message: string;
}

interface KubeStatus {
  readonly code?: number;
  readonly message?: string;
}

/** The failure a reply carries, or undefined when it is a success. */
export function replyFailure(reply: Message): ReplyFailure | undefined {
  if (reply.route.operation === Operation.Error) return { code: undefined, message: String(reply.content) };
  const content = reply.content as { Err?: { ErrStatus?: KubeStatus } | null; ErrStatus?: KubeStatus } | null;
  if (!content || typeof content !== "object") return undefined;
  const status = content.Err?.ErrStatus ?? content.ErrStatus;
  return status ? { code: status.code, message: status.message ?? "error" } : undefined;
}

/** The failure's text, or undefined when the reply is a success. */
export function replyError(reply: Message): string | undefined {
  return replyFailure(reply)?.message;
}
