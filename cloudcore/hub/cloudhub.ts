import { pino, type Logger } from "pino";
import { DEFAULT_MAX_FRAME_BYTES } from "../../protocol/decoder.js";
import type { Message } from "../../protocol/message.js";
import type { CertificateAuthority } from "../../protocol/pki.js";
import type { CloudcoreMetrics } from "../metrics.js";
import { SessionManager, type SessionHandlers } from "./session-manager.js";
import { UwsListener } from "./uws-listener.js";

/** KubeEdge's cloudhub WebSocket port. */
export const DEFAULT_TUNNEL_PORT = 10000;

export interface CloudHubOptions {
  readonly ca: CertificateAuthority;
  readonly metrics: CloudcoreMetrics;
  /** Names and addresses edges dial; they go into the serving certificate. */
  readonly advertise: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
  readonly host?: string;
  readonly port?: number;
  readonly keepaliveTimeoutMs?: number;
  readonly maxFrameBytes?: number;
  readonly highWaterMarkBytes?: number;
  readonly maxQueuedBytes?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

export const CLOUDHUB_DEFAULTS = {
  host: "0.0.0.0",
  port: DEFAULT_TUNNEL_PORT,
  // KubeEdge closes a session 30 s after the last keepalive (edges send one every 15 s).
  keepaliveTimeoutMs: 30_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  highWaterMarkBytes: 256 * 1024,
  maxQueuedBytes: 64 * 1024 * 1024,
} as const;

/**
 * cloudhub: the tunnel server. One session per connected node; messages to and from edges go
 * through `send` and the handlers.
 */
export class CloudHub {
  private constructor(
    readonly sessions: SessionManager,
    private readonly uws: UwsListener,
  ) {}

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
      },
      options.metrics,
      log,
    );
    const serving = await options.ca.issue({
      subject: "CN=KubeEdge, O=KubeEdge",
      usage: "server",
      dnsNames: options.advertise.dnsNames,
      ipAddresses: options.advertise.ipAddresses,
    });
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
    return new CloudHub(sessions, uws);
  }

  /** Port of the uWS listener. */
  get port(): number {
    return this.uws.port;
  }

  setHandlers(handlers: SessionHandlers): void {
    this.sessions.setHandlers(handlers);
  }

  /** Sends to a node connected here; false if it has no tunnel to this replica. */
  send(nodeName: string, message: Message): boolean {
    return this.sessions.send(nodeName, message);
  }

  /** Closes every tunnel and the listener; safe to call twice. */
  close(): void {
    this.sessions.closeAll();
    this.uws.close();
  }
}
