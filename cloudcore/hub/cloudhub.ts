import { pino, type Logger } from "pino";
import { DEFAULT_MAX_FRAME_BYTES } from "../../protocol/decoder.js";
import { requiresAck } from "../../protocol/ack-policy.js";
import { Operation } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";
import { issueServingCertificate, type CertificateAuthority } from "../../protocol/pki.js";
import type { CloudcoreMetrics } from "../metrics.js";
import { MemoryAckStore, type AckStore } from "./ack-store.js";
import { KubeEdgeListener } from "./kubeedge-listener.js";
import { ReliableDelivery } from "./reliable-delivery.js";
import { SessionManager, type SessionHandlers } from "./session-manager.js";
import { TokenBucket } from "./token-bucket.js";
import { UwsListener } from "./uws-listener.js";

/** KubeEdge's cloudhub WebSocket port: here, the uWS door for edgefleet edges and the simulator. */
export const DEFAULT_TUNNEL_PORT = 10000;
/** The door for KubeEdge edgecores (node:https + ws, `node_id` header, mutual TLS). */
export const DEFAULT_KUBEEDGE_TUNNEL_PORT = 10010;

export interface CloudHubOptions {
  readonly ca: CertificateAuthority;
  readonly metrics: CloudcoreMetrics;
  /** Names and addresses edges dial; they go into the serving certificate. */
  readonly advertise: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
  readonly host?: string;
  readonly port?: number;
  /** Port of the KubeEdge-compatible door; null turns it off. */
  readonly kubeedgePort?: number | null;
  readonly keepaliveTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly highWaterMarkBytes?: number;
  readonly maxQueuedBytes?: number;
  /** Messages awaiting an ack per node. */
  readonly maxInFlight?: number;
  readonly ackTimeoutMs?: number;
  /**
   * New tunnels admitted per second, and the burst allowed; beyond it edges are closed with
   * TryLater and retry with backoff. Default 500/s, burst 1000; null: unlimited.
   */
  readonly admission?: { readonly ratePerSecond: number; readonly burst: number } | null;
  /** Where acked versions are kept; memory by default (Redis when replicas share nodes). */
  readonly ackStore?: AckStore;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export const CLOUDHUB_DEFAULTS = {
  host: "0.0.0.0",
  port: DEFAULT_TUNNEL_PORT,
  kubeedgePort: DEFAULT_KUBEEDGE_TUNNEL_PORT,
  // KubeEdge closes a session 30 s after the last keepalive (edges send one every 15 s).
  keepaliveTimeoutMs: 30_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  highWaterMarkBytes: 256 * 1024,
  maxQueuedBytes: 64 * 1024 * 1024,
  maxInFlight: 64,
  // KubeEdge resends an unacked message every 5 s.
  ackTimeoutMs: 5_000,
  admission: { ratePerSecond: 500, burst: 1000 },
} as const;

/**
 * cloudhub: the tunnel server. One session per connected node; messages to and from edges go
 * through `send` and the handlers.
 */
export class CloudHub {
  #handlers: SessionHandlers = {};

  private constructor(
    readonly sessions: SessionManager,
    readonly delivery: ReliableDelivery,
    private readonly uws: UwsListener,
    private readonly kubeedge: KubeEdgeListener | undefined,
    private readonly log: Logger,
  ) {
    sessions.setHandlers({
      onConnect: (session) => {
        this.#handlers.onConnect?.(session);
        delivery.pump(session.nodeName);
      },
      onDisconnect: (session, code, reason) => {
        delivery.disconnected(session.nodeName);
        this.#handlers.onDisconnect?.(session, code, reason);
      },
      onMessage: (session, message) => {
        // As in KubeEdge, an edge's `response` is the ack of the cloud message it answers and
        // goes no further; `error` replies are only logged.
        if (message.route.operation === Operation.Response) {
          const parent = message.header.parent_msg_id;
          if (parent)
            void delivery.acknowledge(session.nodeName, parent).catch((err: unknown) => this.#ackFailed(err));
          return;
        }
        if (message.route.operation === Operation.Error) {
          log.warn(
            { node: session.nodeName, parent: message.header.parent_msg_id, error: message.content },
            "edge reported an error",
          );
          return;
        }
        this.#handlers.onMessage?.(session, message);
      },
    });
  }

  static async start(options: CloudHubOptions): Promise<CloudHub> {
    const log = (options.logger ?? pino({ level: "info" })).child({ component: "cloudhub" });
    const maxFrameBytes = options.maxFrameBytes ?? CLOUDHUB_DEFAULTS.maxFrameBytes;
    const sessions = new SessionManager(
      {
        keepaliveTimeoutMs: options.keepaliveTimeoutMs ?? CLOUDHUB_DEFAULTS.keepaliveTimeoutMs,
        maxFrameBytes,
        highWaterMarkBytes: options.highWaterMarkBytes ?? CLOUDHUB_DEFAULTS.highWaterMarkBytes,
        maxQueuedBytes: options.maxQueuedBytes ?? CLOUDHUB_DEFAULTS.maxQueuedBytes,
        now: options.now ?? Date.now,
        ...(options.admission !== null && {
          admission: new TokenBucket({
            ...(options.admission ?? CLOUDHUB_DEFAULTS.admission),
            now: options.now ?? Date.now,
          }),
        }),
      },
      options.metrics,
      log,
    );
    const serving = await issueServingCertificate(options.ca, options.advertise);
    const uws = await UwsListener.start({
      ca: options.ca,
      serving,
      host: options.host ?? CLOUDHUB_DEFAULTS.host,
      port: options.port ?? CLOUDHUB_DEFAULTS.port,
      maxFrameBytes,
      sessions,
      metrics: options.metrics,
      log,
    });
    const kubeedgePort =
      options.kubeedgePort === undefined ? CLOUDHUB_DEFAULTS.kubeedgePort : options.kubeedgePort;
    const kubeedge =
      kubeedgePort === null
        ? undefined
        : await KubeEdgeListener.start({
            ca: options.ca,
            serving,
            host: options.host ?? CLOUDHUB_DEFAULTS.host,
            port: kubeedgePort,
            maxFrameBytes,
            sessions,
            metrics: options.metrics,
            log,
          }).catch((err: unknown) => {
            uws.close();
            throw err;
          });
    const delivery = new ReliableDelivery(
      sessions,
      options.ackStore ?? new MemoryAckStore(),
      {
        maxInFlight: options.maxInFlight ?? CLOUDHUB_DEFAULTS.maxInFlight,
        ackTimeoutMs: options.ackTimeoutMs ?? CLOUDHUB_DEFAULTS.ackTimeoutMs,
        now: options.now ?? Date.now,
      },
      log,
    );
    return new CloudHub(sessions, delivery, uws, kubeedge, log);
  }

  /** Port of the uWS listener. */
  get port(): number {
    return this.uws.port;
  }

  /** Port of the KubeEdge-compatible listener, if it runs. */
  get kubeedgePort(): number | undefined {
    return this.kubeedge?.port;
  }

  /** Application handlers; acks and error replies from edges are consumed before them. */
  setHandlers(handlers: SessionHandlers): void {
    this.#handlers = handlers;
  }

  /**
   * Sends to a node. Messages that need an ack (protocol/ack-policy.ts) are kept until acked and
   * survive disconnects; others are best effort and dropped if the node has no tunnel here.
   */
  async deliver(nodeName: string, message: Message): Promise<void> {
    if (requiresAck(message)) await this.delivery.deliver(nodeName, message);
    else this.sessions.send(nodeName, message);
  }

  /** Best-effort send to a node connected here; false if it has no tunnel to this replica. */
  send(nodeName: string, message: Message): boolean {
    return this.sessions.send(nodeName, message);
  }

  /** Closes every tunnel and both listeners; safe to call twice. */
  async close(): Promise<void> {
    this.delivery.close();
    this.sessions.closeAll();
    this.uws.close();
    await this.kubeedge?.close();
  }

  #ackFailed(err: unknown): void {
    this.log.error({ err }, "recording an ack failed");
  }
}
