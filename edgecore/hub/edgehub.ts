import { setTimeout as sleep } from "node:timers/promises";
import { pino, type Logger } from "pino";
import WebSocket from "ws";
import { DEFAULT_PROJECT_ID, Group, KEEPALIVE_CONTENT, Operation, Source } from "../../protocol/constants.js";
import { decodeFrame } from "../../protocol/decoder.js";
import { encodeMessage } from "../../protocol/encoder.js";
import { FrameError } from "../../protocol/errors.js";
import { newMessage, type Message } from "../../protocol/message.js";
import { createTunnelAssertion } from "../../protocol/tunnel-assertion.js";
import { EdgeHubClosedError, RequestTimeoutError } from "../errors.js";
import { backoffDelay, type BackoffOptions } from "../../protocol/backoff.js";

interface PendingRequest {
  readonly message: Message;
  readonly resolve: (response: Message) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface EdgeCredentials {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface EdgeHubOptions {
  /** cloudhub, `host:port` (KubeEdge's 10000). */
  readonly server: string;
  readonly nodeName: string;
  readonly credentials: EdgeCredentials;
  /**
   * `edgefleet`: our cloudhub's uWS door, identity by tunnel assertion, no underscore headers.
   * `kubeedge`: a KubeEdge cloudcore: `node_id`/`project_id` headers and its URL path.
   */
  readonly cloud?: "edgefleet" | "kubeedge";
  readonly projectId?: string;
  /** How long request() waits for the cloud's response (KubeEdge's remoteQueryTimeout: 60 s). */
  readonly requestTimeoutMs?: number;
  /** KubeEdge edgehub's heartbeat: 15 s. */
  readonly keepaliveIntervalMs?: number;
  readonly backoff?: BackoffOptions;
  readonly handshakeTimeoutMs?: number;
  /** Source address to dial from (the simulator spreads tunnels over many 127.x addresses). */
  readonly localAddress?: string;
  readonly logger?: Logger;
  readonly random?: () => number;
}

export type EdgeHubStatus =
  | { readonly type: "idle" }
  | { readonly type: "connecting"; readonly attempt: number }
  | { readonly type: "connected"; readonly since: number }
  | { readonly type: "waiting"; readonly delayMs: number; readonly lastError: string }
  | { readonly type: "closed" };

/** cloudhub's close code for "retry later" (admission rate exceeded, node owned by another replica). */
export const TRY_LATER_CLOSE_CODE = 4005;

export const EDGEHUB_DEFAULTS = {
  keepaliveIntervalMs: 15_000,
  requestTimeoutMs: 60_000,
  backoff: { initialMs: 500, maxMs: 30_000 },
  handshakeTimeoutMs: 30_000,
} as const;

/**
 * edgehub: the edge's end of the tunnel. Holds one WebSocket to cloudhub over mutual TLS, sends
 * KubeEdge's keepalive, and reconnects with exponential backoff and full jitter until closed.
 */
export class EdgeHub {
  #status: EdgeHubStatus = { type: "idle" };
  #socket: WebSocket | undefined;
  #keepalive: NodeJS.Timeout | undefined;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  /** No reconnect before this time (an interrupted network, see interrupt()). */
  #offlineUntil = 0;
  readonly #messageHandlers: ((message: Message) => void)[] = [];
  readonly #binaryHandlers: ((frame: Uint8Array) => void)[] = [];
  readonly #statusHandlers: ((status: EdgeHubStatus) => void)[] = [];
  /** Requests sent (or waiting to be) whose response has not arrived, in send order. */
  readonly #pending = new Map<string, PendingRequest>();
  readonly #log: Logger;

  constructor(private readonly options: EdgeHubOptions) {
    this.#log = (options.logger ?? pino({ level: "info" })).child({
      component: "edgehub",
      node: options.nodeName,
    });
  }

  get status(): EdgeHubStatus {
    return this.#status;
  }

  onMessage(handler: (message: Message) => void): void {
    this.#messageHandlers.push(handler);
  }

  /** Binary frames from the cloud: stream frames (edgefleet's cloudhub multiplexes them here). */
  onBinary(handler: (frame: Uint8Array) => void): void {
    this.#binaryHandlers.push(handler);
  }

  /** Sends a binary frame now; false when not connected. */
  sendBinary(frame: Uint8Array): boolean {
    const socket = this.#socket;
    if (this.#status.type !== "connected" || !socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(frame, { binary: true });
    return true;
  }

  /** Subscribes to status changes; returns the unsubscribe function. */
  onStatus(handler: (status: EdgeHubStatus) => void): () => void {
    this.#statusHandlers.push(handler);
    return () => {
      const at = this.#statusHandlers.indexOf(handler);
      if (at >= 0) this.#statusHandlers.splice(at, 1);
    };
  }

  /** Starts connecting in the background; reconnects until close(). */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Resolves once connected (immediately if already). */
  connected(): Promise<void> {
    if (this.#status.type === "connected") return Promise.resolve();
    return new Promise((resolve, reject) => {
      const unsubscribe = this.onStatus((status) => {
        if (status.type === "connected") {
          unsubscribe();
          resolve();
        } else if (status.type === "closed") {
          unsubscribe();
          reject(new Error("edgehub closed before connecting"));
        }
      });
    });
  }

  /** Sends now; false when not connected (the caller keeps the message for later). */
  send(message: Message): boolean {
    const socket = this.#socket;
    if (this.#status.type !== "connected" || !socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(encodeMessage(message));
    return true;
  }

  /**
   * Sends a request and resolves with the cloud's response (the message whose parent_msg_id is the
   * request's id). A request not yet answered when the tunnel drops is sent again, with the same id,
   * once it is back; one made while disconnected goes out on connect.
   */
  request(
    message: Message,
    timeoutMs = this.options.requestTimeoutMs ?? EDGEHUB_DEFAULTS.requestTimeoutMs,
  ): Promise<Message> {
    if (this.#stop.signal.aborted) return Promise.reject(new EdgeHubClosedError("edgehub is closed"));
    return new Promise((resolve, reject) => {
      const id = message.header.msg_id;
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(
          new RequestTimeoutError(
            `no response to ${message.route.operation} ${message.route.resource} within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      timer.unref();
      this.#pending.set(id, { message, resolve, reject, timer });
      this.send(message);
    });
  }

  /**
   * The tunnel's round trip in ms: a WebSocket ping answered by the cloud's WebSocket layer, so it
   * measures the path (balancer, TLS, the replica's event loop) without touching the application.
   */
  ping(timeoutMs = 10_000): Promise<number> {
    const socket = this.#socket;
    if (this.#status.type !== "connected" || !socket || socket.readyState !== WebSocket.OPEN)
      return Promise.reject(new EdgeHubClosedError("the tunnel is not connected"));
    return new Promise((resolve, reject) => {
      const started = performance.now();
      const onPong = (): void => {
        clearTimeout(timer);
        socket.off("close", onClose);
        resolve(performance.now() - started);
      };
      const onClose = (): void => {
        clearTimeout(timer);
        socket.off("pong", onPong);
        reject(new EdgeHubClosedError("the tunnel closed before the pong"));
      };
      const timer = setTimeout(() => {
        socket.off("pong", onPong);
        socket.off("close", onClose);
        reject(new RequestTimeoutError(`no pong within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      socket.once("pong", onPong);
      socket.once("close", onClose);
      socket.ping();
    });
  }

  /**
   * Cuts the tunnel as a network failure would (no close handshake; the cloud sees 1006) and keeps
   * the edge offline for `offlineMs` before its usual reconnect: chaos testing.
   */
  interrupt(offlineMs: number): void {
    this.#offlineUntil = Date.now() + offlineMs;
    this.#socket?.terminate();
  }

  /** Requests still waiting for a response. */
  get pendingRequests(): number {
    return this.#pending.size;
  }

  /** Stops reconnecting and closes the tunnel; safe to call twice. */
  async close(): Promise<void> {
    this.#stop.abort();
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new EdgeHubClosedError("edgehub closed before the response arrived"));
      this.#pending.delete(id);
    }
    this.#socket?.close(1000, "edgecore stopping");
    await this.#loop?.catch(() => undefined);
    this.#setStatus({ type: "closed" });
  }

  async #run(): Promise<void> {
    const backoff = this.options.backoff ?? EDGEHUB_DEFAULTS.backoff;
    let attempt = 0;
    while (!this.#stop.signal.aborted) {
      this.#setStatus({ type: "connecting", attempt });
      let lastError: string;
      try {
        const closed = await this.#connectOnce();
        // A tunnel the cloud closed with TryLater (admission full, node owned elsewhere) does not
        // count as a success: the backoff keeps growing, so a reconnect storm spreads out.
        if (closed.code !== TRY_LATER_CLOSE_CODE) attempt = 0;
        lastError = `connection closed (${closed.code}${closed.reason ? `: ${closed.reason}` : ""})`;
      } catch (err) {
        lastError = (err as Error).message;
      }
      if (this.#stop.signal.aborted) break;
      const delayMs = Math.max(
        backoffDelay(attempt++, backoff, this.options.random),
        this.#offlineUntil - Date.now(),
      );
      this.#log.info({ delayMs, reason: lastError }, "tunnel down; reconnecting");
      this.#setStatus({ type: "waiting", delayMs, lastError });
      await sleep(delayMs, undefined, { signal: this.#stop.signal }).catch(() => undefined);
    }
  }

  /** One connection: resolves when it closes (true if it had opened), rejects if it never opened. */
  /** Resolves with the close code and reason once an opened tunnel closes; rejects if it never opened. */
  async #connectOnce(): Promise<{ code: number; reason: string }> {
    const { options } = this;
    const [url, headers] = await this.#dialTarget();
    const socket = new WebSocket(url, {
      ca: options.credentials.caPem,
      cert: options.credentials.certPem,
      key: options.credentials.keyPem,
      headers,
      minVersion: "TLSv1.2",
      perMessageDeflate: false,
      handshakeTimeout: options.handshakeTimeoutMs ?? EDGEHUB_DEFAULTS.handshakeTimeoutMs,
      maxPayload: 64 * 1024 * 1024,
      ...(options.localAddress ? { localAddress: options.localAddress } : {}),
    });
    this.#socket = socket;
    return new Promise<{ code: number; reason: string }>((resolve, reject) => {
      let opened = false;
      socket.on("unexpected-response", (_req, res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          socket.terminate();
          reject(
            new Error(
              `cloudhub refused the tunnel (${res.statusCode}): ${Buffer.concat(chunks).toString("utf8").trim()}`,
            ),
          );
        });
      });
      socket.on("open", () => {
        opened = true;
        // Resume: whatever was asked and not answered goes out again, in order. Before "connected"
        // is announced: a request its listeners make (an edge registers on connect) is sent by
        // request() itself and must not go out a second time from here.
        for (const pending of this.#pending.values()) socket.send(encodeMessage(pending.message));
        this.#setStatus({ type: "connected", since: Date.now() });
        this.#startKeepalive(socket);
      });
      socket.on("message", (data: Buffer, isBinary: boolean) => {
        if (isBinary) for (const handler of this.#binaryHandlers) handler(data);
        else this.#receive(data);
      });
      socket.on("error", (err) => {
        if (!opened) reject(err);
      });
      socket.on("close", (code, reason) => {
        this.#stopKeepalive();
        this.#socket = undefined;
        this.#log.info({ code, reason: reason.toString("utf8") }, "tunnel closed");
        if (opened) resolve({ code, reason: reason.toString("utf8") });
        else reject(new Error(`tunnel closed before opening (${code})`));
      });
    });
  }

  async #dialTarget(): Promise<[string, Record<string, string>]> {
    const { options } = this;
    if (options.cloud === "kubeedge") {
      const project = options.projectId ?? DEFAULT_PROJECT_ID;
      return [
        `wss://${options.server}/${project}/${options.nodeName}/events`,
        { node_id: options.nodeName, project_id: project, ConnectionUse: "msg" },
      ];
    }
    const assertion = await createTunnelAssertion({
      nodeName: options.nodeName,
      certPem: options.credentials.certPem,
      keyPem: options.credentials.keyPem,
    });
    return [`wss://${options.server}/`, { authorization: `Bearer ${assertion}` }];
  }

  #receive(data: Buffer): void {
    let message: Message;
    try {
      message = decodeFrame(data);
    } catch (err) {
      if (!(err instanceof FrameError)) throw err;
      this.#log.warn({ code: err.code, field: err.field, reason: err.message }, "frame from cloud rejected");
      return;
    }
    const parent = message.header.parent_msg_id;
    const pending = parent ? this.#pending.get(parent) : undefined;
    if (parent && pending) {
      this.#pending.delete(parent);
      clearTimeout(pending.timer);
      pending.resolve(message);
      return;
    }
    for (const handler of this.#messageHandlers) handler(message);
  }

  #startKeepalive(socket: WebSocket): void {
    const interval = this.options.keepaliveIntervalMs ?? EDGEHUB_DEFAULTS.keepaliveIntervalMs;
    const beat = (): void => {
      if (socket.readyState !== WebSocket.OPEN) return;
      socket.send(
        encodeMessage(
          newMessage({
            source: Source.EdgeHub,
            group: Group.Resource,
            operation: Operation.Keepalive,
            resource: "node",
            content: KEEPALIVE_CONTENT,
          }),
        ),
      );
    };
    this.#keepalive = setInterval(beat, interval);
    this.#keepalive.unref();
  }

  #stopKeepalive(): void {
    if (this.#keepalive) clearInterval(this.#keepalive);
    this.#keepalive = undefined;
  }

  #setStatus(status: EdgeHubStatus): void {
    if (this.#status.type === "closed") return;
    this.#status = status;
    for (const handler of this.#statusHandlers) handler(status);
  }
}
