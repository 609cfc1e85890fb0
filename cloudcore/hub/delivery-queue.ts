import { Operation } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";
import { notNewerThan } from "./ack-store.js";

/** A message that must be acknowledged, and where it is in its life. */
interface Entry {
  readonly key: string;
  message: Message;
  meta: DeliveryMeta;
  /** When the oldest unacked change of this object was queued (kept when a newer one replaces it). */
  readonly queuedAt: number;
  sentAt: number;
  attempts: number;
}

/** What an ack of a message records besides its resourceVersion. */
export interface DeliveryMeta {
  readonly uid?: string;
  readonly digest?: string;
}

export interface DeliveryQueueOptions {
  /** Messages in flight (sent, not yet acked) per node. */
  readonly maxInFlight: number;
  readonly now: () => number;
}

/**
 * One node's reliable downstream queue. Per object (its wire resource) at most one message is in
 * flight; a newer version waiting behind it replaces an older waiting one, so an edge never gets an
 * object's versions out of order and never gets a superseded version late. Nothing is dropped on
 * disconnect: in-flight messages go back to the front of the line and are sent again on reconnect.
 */
export class DeliveryQueue {
  /** Waiting, by object key, in arrival order (a replaced entry keeps its place). */
  readonly #waiting = new Map<string, Entry>();
  /** Sent and not yet acked, by msg_id. */
  readonly #inFlight = new Map<string, Entry>();
  /** The in-flight entry of each object that has one. */
  readonly #inFlightByKey = new Map<string, Entry>();

  constructor(private readonly options: DeliveryQueueOptions) {}

  get waiting(): number {
    return this.#waiting.size;
  }

  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** True if a message for `key` is waiting or in flight. */
  has(key: string): boolean {
    return this.#waiting.has(key) || this.#inFlightByKey.has(key);
  }

  /** Adds a message; `ackedVersion` is what the node acked for this key, if known. */
  enqueue(key: string, message: Message, ackedVersion?: string, meta: DeliveryMeta = {}): void {
    const rv = message.header.resourceversion;
    const isDelete = message.route.operation === Operation.Delete;
    if (!isDelete && rv !== undefined && notNewerThan(rv, ackedVersion)) return;
    const existing = this.#waiting.get(key);
    // A version already waiting or in flight for this object makes an older or equal one redundant.
    const ahead = existing ?? this.#inFlightByKey.get(key);
    const aheadRv = ahead?.message.header.resourceversion;
    if (!isDelete && ahead !== undefined && ahead.message.route.operation !== Operation.Delete) {
      if (rv !== undefined && aheadRv !== undefined && notNewerThan(rv, aheadRv)) return;
      // Same content (a status-only change, say) as what is already on its way: nothing to add.
      if (meta.digest !== undefined && meta.digest === ahead.meta.digest && meta.uid === ahead.meta.uid)
        return;
    }
    if (existing) {
      existing.message = message;
      existing.meta = meta;
    } else
      this.#waiting.set(key, {
        key,
        message,
        meta,
        queuedAt: this.#inFlightByKey.get(key)?.queuedAt ?? this.options.now(),
        sentAt: 0,
        attempts: 0,
      });
  }

  /**
   * Takes the messages to send now: waiting objects with nothing in flight, up to the window.
   * The caller writes them to the tunnel in the returned order.
   */
  takeSendable(): Message[] {
    const out: Message[] = [];
    const now = this.options.now();
    for (const [key, entry] of this.#waiting) {
      if (this.#inFlight.size >= this.options.maxInFlight) break;
      if (this.#inFlightByKey.has(key)) continue;
      this.#waiting.delete(key);
      entry.sentAt = now;
      entry.attempts++;
      this.#inFlight.set(entry.message.header.msg_id, entry);
      this.#inFlightByKey.set(key, entry);
      out.push(entry.message);
    }
    return out;
  }

  /** The edge acked `msgId`; returns the acked entry (for the ack store), or undefined if unknown. */
  ack(
    msgId: string,
  ): { readonly key: string; readonly message: Message; readonly meta: DeliveryMeta } | undefined {
    const entry = this.#inFlight.get(msgId);
    if (!entry) return undefined;
    this.#inFlight.delete(msgId);
    this.#inFlightByKey.delete(entry.key);
    return entry;
  }

  /** Milliseconds since the oldest change still unacked was queued; 0 when nothing is pending. */
  lagMs(): number {
    let oldest = Infinity;
    for (const entry of this.#waiting.values()) oldest = Math.min(oldest, entry.queuedAt);
    for (const entry of this.#inFlight.values()) oldest = Math.min(oldest, entry.queuedAt);
    return oldest === Infinity ? 0 : Math.max(0, this.options.now() - oldest);
  }

  /** Messages in flight for longer than `timeoutMs`, to be written again (same msg_id). */
  overdue(timeoutMs: number): Message[] {
    const now = this.options.now();
    const out: Message[] = [];
    for (const entry of this.#inFlight.values()) {
      if (now - entry.sentAt >= timeoutMs) {
        entry.sentAt = now;
        entry.attempts++;
        out.push(entry.message);
      }
    }
    return out;
  }

  /** The tunnel closed: everything in flight waits again, ahead of what arrived later. */
  requeueInFlight(): void {
    if (this.#inFlight.size === 0) return;
    const resend = [...this.#inFlight.values()];
    this.#inFlight.clear();
    this.#inFlightByKey.clear();
    const later = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const entry of resend) this.#waiting.set(entry.key, entry);
    for (const entry of later) {
      const first = this.#waiting.get(entry.key);
      // A newer version of an object that was in flight supersedes the in-flight one.
      if (first) {
        first.message = entry.message;
        first.meta = entry.meta;
      } else this.#waiting.set(entry.key, entry);
    }
  }
}
