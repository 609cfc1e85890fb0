import { X509Certificate as NodeX509 } from "node:crypto";
import { createServer, type Server } from "node:https";
import { BodyTooLargeError, readBody } from "../http/read-body.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { TLSSocket } from "node:tls";
import * as x509 from "@peculiar/x509";
import { pino, type Logger } from "pino";
import { CsrSignatureError } from "../../protocol/errors.js";
import { isNodeName } from "../../protocol/names.js";
import { issueServingCertificate, nodeNameOf, type CertificateAuthority } from "../../protocol/pki.js";
import { CertificateRequestError, JoinTokenError } from "../errors.js";
import type { CloudcoreMetrics } from "../metrics.js";
import type { JoinTokens } from "../security/join-tokens.js";
import { ServerSockets } from "../http/server-sockets.js";

/** KubeEdge's certificate server port. */
export const DEFAULT_CERTIFICATE_PORT = 10002;
/** KubeEdge caps CSR bodies at 1 MiB. */
const MAX_BODY_BYTES = 1024 * 1024;
// Go's x509.ExtKeyUsage values an edge may ask for in the ExtKeyUsages header.
const GO_EXT_KEY_USAGE_SERVER_AUTH = 1;
const GO_EXT_KEY_USAGE_CLIENT_AUTH = 2;

export interface CertificateServerOptions {
  readonly ca: CertificateAuthority;
  readonly tokens: JoinTokens;
  readonly metrics: CloudcoreMetrics;
  /** Names and addresses edges use to reach this server; they go into its serving certificate. */
  readonly advertise: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] };
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
  readonly logger?: Logger;
}

type Result = "issued" | "bad_request" | "unauthorized" | "forbidden" | "error";

class HttpRefusal extends CertificateRequestError {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 405 | 413,
    readonly result: Result,
    message: string,
  ) {
    super(message);
  }
}

/** The routes counted by name in edgefleet_http_requests_total. */
const CERTIFICATE_ROUTES: ReadonlySet<string> = new Set(["/ca.crt", "/edge.crt"]);

/**
 * KubeEdge's certificate server (cloudhub's HTTPS server on 10002): `GET /ca.crt` returns the CA as
 * DER; `GET /edge.crt` takes a DER CSR and returns a DER certificate signed by the cloud CA. A first
 * join authenticates with a join token (`Authorization: Bearer <jwt>`); a rotation authenticates
 * with the node's current client certificate. Either way the CSR must be for the node named in the
 * `NodeName` header, and a certificate-authenticated node may only renew its own name.
 */
export class CertificateServer {
  readonly #server: Server;
  readonly #sockets: ServerSockets;
  readonly #log: Logger;
  #closed = false;

  private constructor(
    private readonly options: CertificateServerOptions,
    serving: { certPem: string; keyPem: string },
  ) {
    this.#log = (options.logger ?? pino({ level: "info" })).child({ component: "certificate-server" });
    this.#server = createServer(
      {
        cert: serving.certPem,
        key: serving.keyPem,
        ca: options.ca.certPem,
        minVersion: "TLSv1.2",
        // A client certificate is optional here (first joins have none) but verified when present.
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => void this.#handle(req, res),
    );
    this.#sockets = new ServerSockets(this.#server);
  }

  static async start(options: CertificateServerOptions): Promise<CertificateServer> {
    const serving = await issueServingCertificate(options.ca, options.advertise);
    const server = new CertificateServer(options, serving);
    await new Promise<void>((resolve, reject) => {
      server.#server.once("error", reject);
      server.#server.listen(options.port ?? DEFAULT_CERTIFICATE_PORT, options.host ?? "0.0.0.0", () => {
        server.#server.off("error", reject);
        resolve();
      });
    });
    return server;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Stops accepting; requests in flight get 2 s, then every connection is closed; safe to call twice. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#sockets.close(2000);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "https://x").pathname;
    res.once("finish", () =>
      this.options.metrics.httpRequests.inc({
        server: "certificates",
        path: CERTIFICATE_ROUTES.has(path) ? path : "other",
        code: String(res.statusCode),
      }),
    );
    try {
      if (path === "/ca.crt") {
        if (req.method !== "GET") throw new HttpRefusal(405, "bad_request", "use GET");
        send(res, 200, Buffer.from(this.options.ca.certDer));
        return;
      }
      if (path === "/edge.crt") {
        const cert = await this.#issue(req);
        this.options.metrics.joinAttempts.inc({ result: "issued" });
        send(res, 200, Buffer.from(cert.rawData));
        return;
      }
      throw new HttpRefusal(404, "bad_request", `no route ${path}`);
    } catch (err) {
      if (err instanceof HttpRefusal) {
        if (path === "/edge.crt") this.options.metrics.joinAttempts.inc({ result: err.result });
        this.#log.warn(
          { path, status: err.status, reason: err.message, node: req.headers["nodename"] },
          "certificate request refused",
        );
        send(res, err.status, Buffer.from(err.message + "\n"));
        return;
      }
      this.options.metrics.joinAttempts.inc({ result: "error" });
      this.#log.error({ err, path }, "certificate request failed");
      send(res, 500, Buffer.from("internal error\n"));
    }
  }

  async #issue(req: IncomingMessage): Promise<x509.X509Certificate> {
    if (req.method !== "GET" && req.method !== "POST")
      throw new HttpRefusal(405, "bad_request", "use GET (KubeEdge) or POST");
    const nodeName = header(req, "nodename");
    if (!nodeName || !isNodeName(nodeName)) {
      throw new HttpRefusal(
        400,
        "bad_request",
        `NodeName header ${JSON.stringify(nodeName ?? "")} is not a valid node name`,
      );
    }
    await this.#authenticate(req, nodeName);
    const usage = parseExtKeyUsages(header(req, "extkeyusages"));
    const body = await readBody(req, MAX_BODY_BYTES).catch((err: unknown) => {
      if (err instanceof BodyTooLargeError)
        throw new HttpRefusal(413, "bad_request", `body exceeds ${MAX_BODY_BYTES} bytes`);
      throw err;
    });
    let csr: x509.Pkcs10CertificateRequest;
    try {
      csr = new x509.Pkcs10CertificateRequest(body);
    } catch {
      throw new HttpRefusal(400, "bad_request", "body is not a DER-encoded PKCS#10 certificate request");
    }
    const csrNode = nodeNameOf(csr);
    if (csrNode !== nodeName) {
      throw new HttpRefusal(
        403,
        "forbidden",
        `CSR subject ${csr.subject} is not O=system:nodes, CN=system:node:${nodeName} (the NodeName header)`,
      );
    }
    try {
      return await this.options.ca.signCsr(csr, usage);
    } catch (err) {
      if (err instanceof CsrSignatureError) throw new HttpRefusal(400, "bad_request", err.message);
      throw err;
    }
  }

  /** A valid node client certificate for the same node, or a valid join token. */
  async #authenticate(req: IncomingMessage, nodeName: string): Promise<void> {
    const peer = (req.socket as TLSSocket).getPeerCertificate(false);
    if (peer && peer.raw && peer.raw.length > 0) {
      const cert = new x509.X509Certificate(peer.raw);
      if (await this.options.ca.issued(cert)) {
        const certNode = nodeNameOf(cert);
        if (certNode !== nodeName) {
          throw new HttpRefusal(
            403,
            "forbidden",
            `client certificate is for node ${certNode ?? "(none)"}, not ${nodeName}`,
          );
        }
        return;
      }
      // A certificate from another CA gives no identity; fall through to the token.
      this.#log.debug(
        { subject: new NodeX509(peer.raw).subject },
        "client certificate not issued by the cloud CA",
      );
    }
    const authorization = header(req, "authorization");
    const match = authorization ? /^Bearer (\S+)$/.exec(authorization) : null;
    if (!match?.[1])
      throw new HttpRefusal(
        401,
        "unauthorized",
        "no join token (Authorization: Bearer) and no client certificate issued by the cloud CA",
      );
    try {
      await this.options.tokens.verify(match[1]);
    } catch (err) {
      if (err instanceof JoinTokenError)
        throw new HttpRefusal(401, "unauthorized", `join token refused: ${err.message}`);
      throw err;
    }
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function parseExtKeyUsages(value: string | undefined): "client" | "server" | "server+client" {
  if (value === undefined || value === "") return "client";
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new HttpRefusal(400, "bad_request", "ExtKeyUsages header is not a JSON array");
  }
  if (!Array.isArray(parsed) || parsed.length === 0)
    throw new HttpRefusal(400, "bad_request", "ExtKeyUsages header is not a non-empty JSON array");
  const server = parsed.includes(GO_EXT_KEY_USAGE_SERVER_AUTH);
  const client = parsed.includes(GO_EXT_KEY_USAGE_CLIENT_AUTH);
  if (parsed.some((u) => u !== GO_EXT_KEY_USAGE_SERVER_AUTH && u !== GO_EXT_KEY_USAGE_CLIENT_AUTH)) {
    throw new HttpRefusal(
      400,
      "bad_request",
      `ExtKeyUsages ${value} may only hold 1 (ServerAuth) and 2 (ClientAuth)`,
    );
  }
  return server && client ? "server+client" : server ? "server" : "client";
}

function send(res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, {
    "content-type": status === 200 ? "application/octet-stream" : "text/plain; charset=utf-8",
    "content-length": body.length,
  });
  res.end(body);
}
