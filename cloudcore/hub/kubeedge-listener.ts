import { createServer, type Server } from "node:https";
import type { IncomingMessage } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import * as x509 from "@peculiar/x509";
import { WebSocketServer, type WebSocket } from "ws";
import { nodeNameOf } from "../../protocol/pki.js";
import { TLS12_CIPHERS, type ListenerOptions } from "./listener-options.js";
import type { TunnelConnection } from "./tunnel-connection.js";
import { ServerSockets } from "../http/server-sockets.js";

export type KubeEdgeListenerOptions = ListenerOptions;

/**
 * The door for KubeEdge's own edgecore, on Node's HTTP parser (which, unlike uWS, accepts the
 * `node_id` header). Real mutual TLS: the handshake requires a client certificate issued by the
 * cloud CA, and the node named in it must be the `node_id` header's. KubeEdge trusts `node_id` by
 * default; we never do.
 */
export class KubeEdgeListener {
  readonly #server: Server;
  readonly #sockets: ServerSockets;
  readonly #wss: WebSocketServer;
  #closed = false;

  private constructor(private readonly options: KubeEdgeListenerOptions) {
    this.#server = createServer({
      cert: options.serving.certPem,
      key: options.serving.keyPem,
      ca: options.ca.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
      ciphers: `TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:${TLS12_CIPHERS}`,
    });
    this.#sockets = new ServerSockets(this.#server);
    this.#wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: options.maxFrameBytes,
    });
    this.#server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) =>
      this.#upgrade(req, socket, head),
    );
    this.#server.on("request", (_req, res) => {
      res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket upgrade required\n");
    });
  }

  static async start(options: KubeEdgeListenerOptions): Promise<KubeEdgeListener> {
    const listener = new KubeEdgeListener(options);
    await new Promise<void>((resolve, reject) => {
      listener.#server.once("error", reject);
      listener.#server.listen(options.port, options.host, () => {
        listener.#server.off("error", reject);
        resolve();
      });
    });
    return listener;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Stops listening and closes every tunnel it accepted; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const client of this.#wss.clients) client.terminate();
    this.#wss.close();
    await this.#sockets.close();
  }

  #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const { metrics, log } = this.options;
    const refuse = (status: number, reason: string): void => {
      metrics.tunnelAttempts.inc({
        listener: "kubeedge",
        result: status === 401 ? "unauthorized" : "bad_request",
      });
      log.warn({ reason }, "tunnel refused");
      socket.end(
        `HTTP/1.1 ${status} ${status === 401 ? "Unauthorized" : "Bad Request"}\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n${reason}\n`,
      );
    };
    const tls = socket as TLSSocket;
    const peer = tls.getPeerCertificate(false);
    if (!tls.authorized || !peer?.raw) {
      refuse(401, "a client certificate issued by the cloud CA is required");
      return;
    }
    const certNode = nodeNameOf(new x509.X509Certificate(peer.raw));
    const header = req.headers["node_id"];
    const claimed = Array.isArray(header) ? header[0] : header;
    if (!certNode) {
      refuse(401, "client certificate is not a node certificate (O=system:nodes, CN=system:node:<name>)");
      return;
    }
    if (claimed !== certNode) {
      refuse(
        401,
        `node_id header ${JSON.stringify(claimed ?? "")} does not match the certificate's node ${certNode}`,
      );
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      metrics.tunnelAttempts.inc({ listener: "kubeedge", result: "accepted" });
      this.#open(certNode, ws, socket);
    });
  }

  #open(nodeName: string, ws: WebSocket, socket: Socket): void {
    const connection: TunnelConnection = {
      send: (frame) => ws.send(frame),
      get bufferedAmount() {
        return ws.bufferedAmount;
      },
      close: (code, reason) => ws.close(code, reason),
      remoteAddress: socket.remoteAddress ?? "",
      carriesStreams: false,
    };
    const session = this.options.sessions.attach(nodeName, connection);
    if (!session) return;
    // ws has no drain event of its own; the TLS socket's tells us its buffer emptied.
    socket.on("drain", () => session.drain());
    ws.on("message", (data: Buffer) => this.options.sessions.receive(session, data));
    ws.on("close", (code, reason) => this.options.sessions.detach(session, code, reason.toString("utf8")));
    ws.on("error", (err) => this.options.log.warn({ node: nodeName, err: err.message }, "tunnel error"));
  }
}
