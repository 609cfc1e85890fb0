import type { Logger } from "pino";
import { FrameError } from "../../protocol/errors.js";
import { decodeFrame } from "../../protocol/decoder.js";
import { Operation } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";
import { parseResource } from "../../protocol/resource.js";
import { StreamProtocolError } from "../../protocol/stream-mux.js";
import type { CloudcoreMetrics } from "../metrics.js";
import { NodeSession, type NodeSessionOptions, type SessionObserver } from "./node-session.js";
import { StallGuard } from "./stall-guard.js";
import type { TokenBucket } from "./token-bucket.js";
import { CloseCode, type TunnelConnection } from "./tunnel-connection.js";

export interface SessionManagerOptions extends NodeSessionOptions {
  /** Close a tunnel that sent nothing (not even a keepalive) for this long. KubeEdge: 30 s. */
  readonly keepaliveTimeoutMs: number;
  readonly maxFrameBytes: number;
  /** Rate at which new tunnels are admitted; unlimited when absent. */
  readonly admission?: TokenBucket;
}

export interface SessionHandlers {
  onConnect?(session: NodeSession): void;
  /** A decoded message from an edge (keepalives excluded). */
  onMessage?(session: NodeSession, message: Message): void;
  onDisconnect?(session: NodeSession, code: number, reason: string): void;
}

/**
 * Metric label of a close code: ours by name, and the standard ones an edge's side produces (RFC
 * 6455 §7.4.1; 1006 is what uWS reports when the connection dropped without a close frame, e.g. a
 * cut network), so a dashboard reads "Abnormal" rather than "1006".
 */
const CLOSE_REASON: Record<number, string> = {
  1002: "ProtocolErrorFromPeer",
  1005: "NoStatus",
  1006: "Abnormal",
  1009: "MessageTooBig",
  1011: "InternalError",
  ...Object.fromEntries(Object.entries(CloseCode).map(([name, code]) => [code, name])),
};

/** The `reason` label of edgefleet_tunnel_sessions_closed_total for a close code. */
export function closeReasonLabel(code: number): string {
  return CLOSE_REASON[code] ?? String(code);
}

function typeOf(message: Message): string {
  try {
    return parseResource(message.route.resource ?? "").type;
  } catch {
    return "unknown";
  }
}

/**
 * The sessions of one cloudhub: at most one per node (a newer connection replaces the older, which
 * is closed), dead-peer detection by one sweep over all sessions (no timer per node), decoding of
 * every inbound frame. Both listeners feed it.
 */
export class SessionManager {
  readonly #sessions = new Map<string, NodeSession>();
  readonly #sweep: NodeJS.Timeout;
  readonly #stall: StallGuard;
  #handlers: SessionHandlers = {};
  readonly #observer: SessionObserver;
  #messages = 0;

  constructor(
    private readonly options: SessionManagerOptions,
    private readonly metrics: CloudcoreMetrics,
    private readonly log: Logger,
  ) {
    this.#observer = {
      queued: (delta) => metrics.queuedFrames.inc(delta),
      written: (waitMs) => metrics.sendWait.observe(waitMs / 1000),
    };
    const sweepIntervalMs = Math.max(250, Math.floor(options.keepaliveTimeoutMs / 4));
    this.#stall = new StallGuard(sweepIntervalMs, options.now());
    this.#sweep = setInterval(() => this.#closeSilent(), sweepIntervalMs);
    this.#sweep.unref();
  }

  setHandlers(handlers: SessionHandlers): void {
    this.#handlers = handlers;
  }

  /** Messages received from and sent to edges since start (keepalives excluded). */
  get messagesTotal(): number {
    return this.#messages;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Names of the nodes with a tunnel here, oldest tunnel first. */
  nodeNames(): IterableIterator<string> {
    return this.#sessions.keys();
  }

  get(nodeName: string): NodeSession | undefined {
    return this.#sessions.get(nodeName);
  }

  /**
   * Registers a just-opened tunnel, closing the node's previous one. When the admission bucket is
   * empty (a reconnect storm) the tunnel is closed at once with TryLater and a retry hint, and
   * undefined is returned.
   */
  attach(nodeName: string, connection: TunnelConnection): NodeSession | undefined {
    if (this.options.admission && !this.options.admission.take()) {
      const retryMs = this.options.admission.retryAfterMs();
      this.metrics.tunnelAttempts.inc({ listener: "any", result: "try_later" });
      connection.close(CloseCode.TryLater, `admission rate exceeded; retry in ${retryMs} ms`);
      return undefined;
    }
    const previous = this.#sessions.get(nodeName);
    const session = new NodeSession(nodeName, connection, this.options, this.#observer);
    this.#sessions.set(nodeName, session);
    if (previous) {
      this.log.info({ node: nodeName }, "newer tunnel replaces the open one");
      previous.close(CloseCode.Replaced, "replaced by a newer connection of the same node");
      this.#ended(previous, CloseCode.Replaced, "replaced");
    } else {
      this.metrics.connectedNodes.inc();
    }
    this.log.debug({ node: nodeName, remote: connection.remoteAddress }, "tunnel open");
    this.#handlers.onConnect?.(session);
    return session;
  }

  /** The socket of `session` closed (for any reason). */
  detach(session: NodeSession, code: number, reason: string): void {
    session.markClosed(code, reason);
    // Already replaced or already detached (we closed it ourselves and the socket's close followed).
    if (this.#sessions.get(session.nodeName) !== session) return;
    this.#sessions.delete(session.nodeName);
    this.metrics.connectedNodes.dec();
    this.#ended(session, code, reason);
  }

  /** One frame from `session`'s socket. A bad frame is counted, logged and answered by nothing. */
  receive(session: NodeSession, frame: ArrayBuffer | Uint8Array | string): void {
    session.lastSeen = this.options.now();
    let message: Message;
    try {
      message = decodeFrame(frame, { maxFrameBytes: this.options.maxFrameBytes });
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.metrics.rejectedFrames.inc({ code: err.code });
      this.log.warn(
        { node: session.nodeName, code: err.code, field: err.field, reason: err.message },
        "frame rejected",
      );
      return;
    }
    if (message.route.operation === Operation.Keepalive) return;
    this.#messages++;
    this.metrics.messagesIn.inc({ operation: message.route.operation ?? "", type: typeOf(message) });
    this.#handlers.onMessage?.(session, message);
  }

  /** One binary frame from `session`'s socket: a stream frame (logs, exec, port-forward data). */
  receiveStream(session: NodeSession, frame: Uint8Array): void {
    session.lastSeen = this.options.now();
    try {
      session.streams.receive(frame);
    } catch (err) {
      if (!(err instanceof StreamProtocolError)) throw err;
      this.metrics.rejectedFrames.inc({ code: err.code });
      this.log.warn({ node: session.nodeName, reason: err.message }, "stream frame rejected");
    }
  }

  /** Sends to a connected node; false if it has no open tunnel here. */
  send(nodeName: string, message: Message): boolean {
    const session = this.#sessions.get(nodeName);
    if (!session || !session.send(message)) return false;
    this.#messages++;
    this.metrics.messagesOut.inc({ operation: message.route.operation ?? "", type: typeOf(message) });
    return true;
  }

  /** Closes every session and stops the sweep; safe to call twice. */
  closeAll(code: number = CloseCode.GoingAway, reason = "cloudhub shutting down"): void {
    clearInterval(this.#sweep);
    for (const session of [...this.#sessions.values()]) {
      session.close(code, reason);
      this.detach(session, code, reason);
    }
  }

  #closeSilent(): void {
    const now = this.options.now();
    const stalledMs = this.#stall.tick(now);
    if (stalledMs > 0) {
      // The keepalives that came meanwhile are unread behind this timer: judge after reading them.
      this.log.warn({ stalledMs }, "keepalive sweep ran late (process stalled): skipped this round");
      return;
    }
    const deadline = now - this.options.keepaliveTimeoutMs;
    for (const session of this.#sessions.values()) {
      if (session.lastSeen < deadline) {
        this.log.info({ node: session.nodeName }, "no keepalive: closing tunnel");
        session.close(CloseCode.KeepaliveTimeout, "keepalive timeout");
        this.detach(session, CloseCode.KeepaliveTimeout, "keepalive timeout");
      }
    }
  }

  #ended(session: NodeSession, code: number, reason: string): void {
    this.metrics.sessionsClosed.inc({ reason: closeReasonLabel(code) });
    this.#handlers.onDisconnect?.(session, code, reason);
  }
}
