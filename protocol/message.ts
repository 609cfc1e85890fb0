import { randomUUID } from "node:crypto";
import { Operation } from "./constants.js";

/** beehive MessageHeader. JSON names match KubeEdge's struct tags. */
export interface MessageHeader {
  /** UUID of this message. */
  readonly msg_id: string;
  /** For replies and acks: the msg_id being answered. Omitted when empty. */
  readonly parent_msg_id?: string;
  /** Creation time, milliseconds since the epoch. */
  readonly timestamp: number;
  /** resourceVersion of the object in content; what reliable delivery acks by. Omitted when empty. */
  readonly resourceversion?: string;
  /** Set by sendsync inside KubeEdge; never true on the WebSocket wire. Omitted when false. */
  readonly sync?: boolean;
  /** Context type; omitted when empty. */
  readonly type?: string;
}

/** beehive MessageRoute. Every field is omitted when empty. */
export interface MessageRoute {
  readonly source?: string;
  readonly destination?: string;
  readonly group?: string;
  readonly operation?: string;
  readonly resource?: string;
}

/** One beehive message: one JSON document per WebSocket text frame. */
export interface Message {
  readonly header: MessageHeader;
  readonly route: MessageRoute;
  /** Any JSON value; KubeEdge emits `null` when absent. */
  readonly content: unknown;
}

export interface NewMessageOptions {
  readonly source: string;
  readonly group: string;
  readonly operation: string;
  readonly resource: string;
  readonly content?: unknown;
  readonly parentId?: string;
  readonly resourceVersion?: string;
  readonly destination?: string;
  /** Injected for tests; defaults to Date.now(). */
  readonly now?: number;
  /** Injected for tests; defaults to a random UUID. */
  readonly id?: string;
}

/** A new message with a fresh UUID and the current time. */
export function newMessage(options: NewMessageOptions): Message {
  const header: MessageHeader = {
    msg_id: options.id ?? randomUUID(),
    timestamp: options.now ?? Date.now(),
    ...(options.parentId ? { parent_msg_id: options.parentId } : {}),
    ...(options.resourceVersion ? { resourceversion: options.resourceVersion } : {}),
  };
  const route: MessageRoute = {
    source: options.source,
    ...(options.destination ? { destination: options.destination } : {}),
    group: options.group,
    operation: options.operation,
    resource: options.resource,
  };
  return { header, route, content: options.content ?? null };
}

/**
 * The reply to `request`, as KubeEdge's NewRespByMessage builds it: new id, parent = request id,
 * source/group/resource/type copied, operation `response`.
 */
export function responseTo(
  request: Message,
  content: unknown,
  options: { now?: number; id?: string; resourceVersion?: string } = {},
): Message {
  const { route } = request;
  return {
    header: {
      msg_id: options.id ?? randomUUID(),
      parent_msg_id: request.header.msg_id,
      timestamp: options.now ?? Date.now(),
      ...(options.resourceVersion ? { resourceversion: options.resourceVersion } : {}),
      ...(request.header.type ? { type: request.header.type } : {}),
    },
    route: {
      ...(route.source ? { source: route.source } : {}),
      ...(route.group ? { group: route.group } : {}),
      operation: Operation.Response,
      ...(route.resource ? { resource: route.resource } : {}),
    },
    content,
  };
}

/**
 * An error reply to `request`: parent = request id, resource and route copied, operation `error`,
 * content = the error text (as metamanager sends it). KubeEdge's own NewErrorMessage uses the
 * request's *parent* id, which no caller can match; we answer the request itself.
 */
export function errorTo(
  request: Message,
  text: string,
  options: { now?: number; id?: string } = {},
): Message {
  const reply = responseTo(request, text, options);
  return { ...reply, route: { ...reply.route, operation: Operation.Error } };
}
