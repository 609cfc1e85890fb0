import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import uWS from "@trufflesuite/uws-js-unofficial";
import type { HttpRequest, HttpResponse, us_listen_socket, WebSocket } from "@trufflesuite/uws-js-unofficial";
import {
  ReplayCache,
  TunnelAuthError,
  VerifiedCertificates,
  verifyTunnelAssertion,
} from "../../protocol/tunnel-assertion.js";
import type { NodeSession } from "./node-session.js";
import { TLS12_CIPHERS, type ListenerOptions } from "./listener-options.js";
import type { TunnelConnection } from "./tunnel-connection.js";

interface SocketData {
  readonly nodeName: string;
  session?: NodeSession;
  /** uWS throws on any use of a closed socket; set by the close handler. */
  closed?: boolean;
  /** We asked it to close: nothing more is written. */
  closing?: boolean;
}

export type UwsListenerOptions = ListenerOptions;

/**
 * The uWebSockets.js front door of cloudhub, for edgefleet's edgecore and the simulator.
 * Certificates from other CAs fail the TLS handshake (uWS checks a presented certificate against
 * `ca_file_name`), but uWS neither requires a client certificate nor shows it to JavaScript, so
 * identity comes from the tunnel assertion in `Authorization` (protocol/tunnel-assertion.ts).
 * KubeEdge edgecores cannot use this door: they send `node_id`, and uWS stalls any request with `_`
 * in a header name.
 */
export class UwsListener {
  readonly #app: uWS.TemplatedApp;
  readonly #certDir: string;
  readonly #replay = new ReplayCache();
  /** Reconnecting nodes (failover, rebalancing, flapping networks) skip the X.509 checks. */
  readonly #certificates = new VerifiedCertificates();
  #listenSocket: us_listen_socket | undefined;
  #port = 0;
  #closed = false;

  private constructor(private readonly options: UwsListenerOptions) {
    this.#certDir = mkdtempSync(join(tmpdir(), "edgefleet-cloudhub-"));
    const cert = join(this.#certDir, "server.crt");
    const key = join(this.#certDir, "server.key");
    const ca = join(this.#certDir, "ca.crt");
    writeFileSync(cert, options.serving.certPem, { mode: 0o600 });
    writeFileSync(key, options.serving.keyPem, { mode: 0o600 });
    writeFileSync(ca, options.ca.certPem, { mode: 0o600 });
    this.#app = uWS.SSLApp({
      cert_file_name: cert,
      key_file_name: key,
      ca_file_name: ca,
      ssl_ciphers: TLS12_CIPHERS,
    });
    this.#app.ws<SocketData>("/*", {
      maxPayloadLength: options.maxFrameBytes,
      // Our own per-node queue does the buffering; this is only uWS's hard cap per socket.
      maxBackpressure: 64 * 1024 * 1024,
      closeOnBackpressureLimit: 1,
      // Transport-level dead-peer detection; the keepalive sweep covers the application level.
      idleTimeout: 120,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => void this.#upgrade(res, req, context),
      open: (ws) => this.#open(ws),
      message: (ws, message, isBinary) => {
        const { session } = ws.getUserData();
        if (!session) return;
        // uWS reuses the message's memory after this callback: stream data outlives it, so copy.
        if (isBinary) options.sessions.receiveStream(session, new Uint8Array(message.slice(0)));
        else options.sessions.receive(session, message);
      },
      drain: (ws) => ws.getUserData().session?.drain(),
      close: (ws, code, message) => {
        const data = ws.getUserData();
        data.closed = true;
        if (data.session) options.sessions.detach(data.session, code, Buffer.from(message).toString("utf8"));
      },
    });
  }

  static async start(options: UwsListenerOptions): Promise<UwsListener> {
    const listener = new UwsListener(options);
    await new Promise<void>((resolve, reject) => {
      listener.#app.listen(options.host, options.port, (socket) => {
        if (!socket) {
          reject(new Error(`cloudhub cannot listen on ${options.host}:${options.port}`));
          return;
        }
        listener.#listenSocket = socket;
        listener.#port = uWS.us_socket_local_port(socket);
        resolve();
      });
    });
    return listener;
  }

  get port(): number {
    return this.#port;
  }

  /** Stops listening and closes every socket this listener accepted; safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#listenSocket) uWS.us_listen_socket_close(this.#listenSocket);
    // close() exists on the native app (it closes every socket) but is missing from the typings.
    (this.#app as uWS.TemplatedApp & { close(): void }).close();
    rmSync(this.#certDir, { recursive: true, force: true });
  }

  async #upgrade(res: HttpResponse, req: HttpRequest, context: uWS.us_socket_context_t): Promise<void> {
    // req is only valid until the first await: copy what the upgrade needs now.
    const key = req.getHeader("sec-websocket-key");
    const protocol = req.getHeader("sec-websocket-protocol");
    const extensions = req.getHeader("sec-websocket-extensions");
    const authorization = req.getHeader("authorization");
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    const { metrics, log } = this.options;
    const refuse = (status: string, reason: string, result: string): void => {
      metrics.tunnelAttempts.inc({ listener: "uws", result });
      log.warn({ reason }, "tunnel refused");
      if (!aborted)
        res.cork(() =>
          res
            .writeStatus(status)
            .writeHeader("content-type", "text/plain")
            .end(reason + "\n"),
        );
    };
    const match = /^Bearer (\S+)$/.exec(authorization);
    if (!match?.[1]) {
      refuse("401 Unauthorized", "no tunnel credential (Authorization: Bearer <assertion>)", "unauthorized");
      return;
    }
    let nodeName: string;
    try {
      nodeName = await verifyTunnelAssertion(match[1], {
        ca: this.options.ca,
        replay: this.#replay,
        certificates: this.#certificates,
      });
    } catch (err) {
      if (!(err instanceof TunnelAuthError)) throw err;
      refuse("401 Unauthorized", err.message, "unauthorized");
      return;
    }
    if (aborted) return;
    metrics.tunnelAttempts.inc({ listener: "uws", result: "accepted" });
    res.cork(() => res.upgrade<SocketData>({ nodeName }, key, protocol, extensions, context));
  }

  #open(ws: WebSocket<SocketData>): void {
    const data = ws.getUserData();
    const connection: TunnelConnection = {
      send: (frame) => {
        if (!data.closed && !data.closing) ws.send(frame, typeof frame !== "string");
      },
      get bufferedAmount() {
        return data.closed ? 0 : ws.getBufferedAmount();
      },
      close: (code, reason) => {
        if (data.closed || data.closing) return;
        data.closing = true;
        // Never end a socket from inside another socket's handler: uWS corks one socket at a time,
        // and ending the old tunnel while the new one's upgrade is corked corrupted the new
        // tunnel's stream (seen as a 1006 close of the replacement under load).
        setImmediate(() => {
          if (!data.closed) ws.end(code, reason);
        });
      },
      remoteAddress: Buffer.from(ws.getRemoteAddressAsText()).toString("utf8"),
      carriesStreams: true,
    };
    const session = this.options.sessions.attach(data.nodeName, connection);
    if (session) data.session = session;
  }
}
