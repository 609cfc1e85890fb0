import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import { issueServingCertificate, type CertificateAuthority } from "../../protocol/pki.js";
import { ServerSockets } from "../http/server-sockets.js";
import type { StreamCaller } from "./kubelet-authorizer.js";

/** A request that reached the stream server from an authenticated caller. */
export type StreamCall =
  | {
      readonly kind: "plain";
      readonly caller: StreamCaller;
      readonly req: IncomingMessage;
      readonly res: ServerResponse;
    }
  | {
      readonly kind: "upgrade";
      readonly caller: StreamCaller;
      readonly req: IncomingMessage;
      readonly socket: Duplex;
      /** Bytes that came after the request head. */
      readonly head: Buffer;
    };

export interface StreamServerOptions {
  /** Issues the serving certificate (the cloud CA, which the apiserver's --kubelet-certificate-authority names). */
  readonly ca: CertificateAuthority;
  /** PEM of the CA(s) whose client certificates may call: the apiserver's kubelet client certificate. */
  readonly clientCaPem: string;
  readonly host: string;
  readonly port: number;
  /**
   * Addresses the serving certificate must cover. The apiserver checks the certificate against the
   * address it dialled, a node's InternalIP (DNAT hides the replica), and sends no SNI for IPs: so
   * one certificate carries every edge node's address.
   */
  readonly servingAddresses: () => {
    readonly dnsNames: readonly string[];
    readonly ipAddresses: readonly string[];
  };
  /** How often the addresses are compared and the certificate re-issued if they changed. */
  readonly refreshIntervalMs?: number;
  readonly handle: (call: StreamCall) => void;
  readonly log: Logger;
}

/**
 * CloudStream's HTTPS front door, the "kubelet" the apiserver dials for an edge node (through the
 * DNAT of the node's tunnel port): mutual TLS, where only certificates of the cluster CA get past
 * the handshake, and the caller's identity is read from its certificate.
 */
export class StreamServer {
  #timer: NodeJS.Timeout | undefined;
  #addressesKey = "";
  #refreshing: Promise<void> = Promise.resolve();

  private readonly sockets: ServerSockets;

  private constructor(
    private readonly server: Server,
    private readonly options: StreamServerOptions,
  ) {
    this.sockets = new ServerSockets(server);
  }

  static async start(options: StreamServerOptions): Promise<StreamServer> {
    const addresses = normalize(options.servingAddresses());
    const serving = await issueServingCertificate(options.ca, addresses);
    const server = createServer({
      key: serving.keyPem,
      cert: serving.certPem,
      ca: options.clientCaPem,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: "TLSv1.2",
    });
    const stream = new StreamServer(server, options);
    stream.#addressesKey = JSON.stringify(addresses);
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const caller = callerOf(req.socket as TLSSocket);
      if (!caller) {
        res.writeHead(401, { "content-type": "text/plain" }).end("a client certificate is required\n");
        return;
      }
      options.handle({ kind: "plain", caller, req, res });
    });
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const caller = callerOf(req.socket as TLSSocket);
      if (!caller) {
        socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n");
        return;
      }
      options.handle({ kind: "upgrade", caller, req, socket, head });
    });
    server.on("tlsClientError", (err: Error) =>
      options.log.debug({ err: err.message }, "stream server: TLS handshake failed"),
    );
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(options.port, options.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    stream.#timer = setInterval(() => {
      stream.#refreshing = stream.#refreshing
        .then(async () => {
          await stream.refresh();
        })
        .catch((err: unknown) =>
          options.log.warn({ err }, "re-issuing the stream serving certificate failed"),
        );
    }, options.refreshIntervalMs ?? 5_000);
    stream.#timer.unref();
    return stream;
  }

  get port(): number {
    const address = this.server.address();
    return typeof address === "object" && address ? address.port : 0;
  }

  /** Re-issues the serving certificate if the addresses it must cover changed; true if it did. */
  async refresh(): Promise<boolean> {
    const addresses = normalize(this.options.servingAddresses());
    const key = JSON.stringify(addresses);
    if (key === this.#addressesKey) return false;
    const serving = await issueServingCertificate(this.options.ca, addresses);
    // New handshakes use it; connections already open keep theirs.
    this.server.setSecureContext({
      key: serving.keyPem,
      cert: serving.certPem,
      ca: this.options.clientCaPem,
    });
    this.#addressesKey = key;
    this.options.log.info(
      { ipAddresses: addresses.ipAddresses.length },
      "stream serving certificate re-issued",
    );
    return true;
  }

  /**
   * Stops listening and closes every connection, including those still in their TLS handshake and
   * upgraded ones (sessions end with them).
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#refreshing;
    await this.sockets.close();
  }
}

function normalize(addresses: ReturnType<StreamServerOptions["servingAddresses"]>): {
  dnsNames: string[];
  ipAddresses: string[];
} {
  return {
    dnsNames: [...new Set(addresses.dnsNames)].sort(),
    ipAddresses: [...new Set(addresses.ipAddresses)].sort(),
  };
}

/** The caller from a verified client certificate: CN is the user, each O a group. */
function callerOf(socket: TLSSocket): StreamCaller | undefined {
  if (!socket.authorized) return undefined;
  const subject = socket.getPeerCertificate().subject as
    Record<string, string | string[] | undefined> | undefined;
  const cn = subject?.["CN"];
  const user = Array.isArray(cn) ? cn[0] : cn;
  if (!user) return undefined;
  const o = subject?.["O"];
  return { user, groups: o === undefined ? [] : Array.isArray(o) ? o : [o] };
}
