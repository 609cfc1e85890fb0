import type { Message } from "./message.js";

/**
 * Encodes a message as KubeEdge emits it: `header`, `route`, `content` in that order, empty
 * optional fields omitted, `content` always present (null when empty).
 */
export function encodeMessage(message: Message): string {
  return JSON.stringify({ header: message.header, route: message.route, content: message.content ?? null });
}
