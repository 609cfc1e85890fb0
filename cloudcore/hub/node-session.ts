import { encodeMessage } from "../../protocol/encoder.js";
import { StreamMux } from "../../protocol/stream-mux.js";
import type { Message } from "../../protocol/message.js";
import { CloseCode, type TunnelConnection } from "./tunnel-connection.js";

export interface NodeSessionOptions {
  /** Stop writing to the socket above this many buffered bytes; resume on drain. */
  readonly highWaterMarkBytes: number;
  /** Close the session when frames waiting in our own queue exceed this (a stuck edge). */
  readonly maxQueuedBytes: number;
  readonly now: () => number;
}

/** What a session reports about its queue, for metrics. */
export interface SessionObserver {
  queued(deltaFrames: number): void;
  /** A frame was written to the socket after waiting `waitMs` in the queue. */
  written(waitMs: number): void;
}

const NO_OBSERVER: SessionObserver = { queued: () => undefined, written: () => undefined };

export type SessionState =
  { readonly type: "open" } | { readonly type: "closed"; readonly code: number; readonly reason: string };

/**
 * One edge node's tunnel. Outbound frames go straight to the socket while its buffer is below the
 * high-water mark and wait in this session's own queue otherwise, so a slow edge only ever delays
 * itself. The queue is bounded: an edge that stops reading is disconnected.
 */
export class NodeSession {
  #state: SessionState = { type: "open" };
  readonly #queue: (string | Uint8Array)[] = [];
  /** Enqueue time of each frame in #queue, same indexes. */
  readonly #queuedAt: number[] = [];
  #queueHead = 0;
  #queuedBytes = 0;
  /** Last time anything (keepalive or message) arrived from the edge. */
  lastSeen: number;
  readonly connectedAt: number;
  #streams: StreamMux | undefined;

  constructor(
    readonly nodeName: string,
    readonly connection: TunnelConnection,
    private readonly options: NodeSessionOptions,
    private readonly observer: SessionObserver = NO_OBSERVER,
  ) {
    this.connectedAt = options.now();
    this.lastSeen = this.connectedAt;
  }

  get state(): SessionState {
    return this.#state;
  }

  /** The stream sessions (logs, exec, port-forward) multiplexed over this tunnel. */
  get streams(): StreamMux {
    this.#streams ??= new StreamMux({ send: (frame) => this.sendFrame(frame) });
    if (this.#state.type === "closed") this.#streams.closeAll("the tunnel is closed");
    return this.#streams;
  }

  get queuedFrames(): number {
    return this.#queue.length - this.#queueHead;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Queues or writes one message; false when the session is closed. */
  send(message: Message): boolean {
    return this.sendFrame(encodeMessage(message));
  }

  sendFrame(frame: string | Uint8Array): boolean {
    if (this.#state.type !== "open") return false;
    if (this.queuedFrames === 0 && this.connection.bufferedAmount < this.options.highWaterMarkBytes) {
      this.connection.send(frame);
      this.observer.written(0);
      return true;
    }
    this.#queue.push(frame);
    this.#queuedAt.push(this.options.now());
    this.#queuedBytes += frameBytes(frame);
    this.observer.queued(1);
    if (this.#queuedBytes > this.options.maxQueuedBytes) {
      this.close(CloseCode.SlowConsumer, `edge is not reading: ${this.#queuedBytes} bytes queued`);
      return false;
    }
    return true;
  }

  /** Writes queued frames until the socket's buffer reaches the high-water mark again. */
  drain(): void {
    let written = 0;
    const now = this.options.now();
    while (
      this.#state.type === "open" &&
      this.#queueHead < this.#queue.length &&
      this.connection.bufferedAmount < this.options.highWaterMarkBytes
    ) {
      const frame = this.#queue[this.#queueHead] ?? "";
      const queuedAt = this.#queuedAt[this.#queueHead] ?? now;
      this.#queueHead++;
      this.#queuedBytes -= frameBytes(frame);
      this.connection.send(frame);
      this.observer.written(now - queuedAt);
      written++;
    }
    if (this.#queueHead === this.#queue.length || this.#queueHead > 1024) {
      this.#queue.splice(0, this.#queueHead);
      this.#queuedAt.splice(0, this.#queueHead);
      this.#queueHead = 0;
    }
    if (written > 0) this.observer.queued(-written);
  }

  /** Closes the tunnel and drops whatever was queued; safe to call twice. */
  close(code: number = CloseCode.Normal, reason = ""): void {
    if (this.#state.type === "closed") return;
    this.markClosed(code, reason);
    this.connection.close(code, reason);
  }

  /** The socket closed underneath us. */
  markClosed(code: number, reason: string): void {
    if (this.#state.type === "closed") return;
    this.#state = { type: "closed", code, reason };
    const dropped = this.queuedFrames;
    this.#queue.length = 0;
    this.#queuedAt.length = 0;
    this.#queueHead = 0;
    this.#queuedBytes = 0;
    if (dropped > 0) this.observer.queued(-dropped);
    this.#streams?.closeAll(`the tunnel closed (${code}${reason ? `: ${reason}` : ""})`);
  }
}

function frameBytes(frame: string | Uint8Array): number {
  return typeof frame === "string" ? frame.length : frame.byteLength;
}
