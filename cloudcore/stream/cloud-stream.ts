import { STATUS_CODES, type IncomingMessage, type ServerResponse } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { StreamMessageType } from "../../protocol/stream-frame.js";
import type { StreamConnectType, StreamSession } from "../../protocol/stream-mux.js";
import { relay } from "../../protocol/stream-relay.js";
import {
  encodeConnectPayload,
  parseKubeletRequest,
  StreamRequestError,
  type KubeletStreamRequest,
} from "../../protocol/stream-request.js";
import type { PodJson } from "../kube/objects.js";
import type { CloudcoreMetrics } from "../metrics.js";
import type { KubeletAuthorizer } from "./kubelet-authorizer.js";
import { ResponseHeadParser } from "./response-head.js";
import type { StreamCall } from "./stream-server.js";

export interface CloudStreamOptions {
  /** The pod, from the cache or the apiserver; undefined if it does not exist. */
  readonly pod: (namespace: string, name: string) => Promise<PodJson | undefined>;
  readonly isEdgeNode: (node: string) => boolean;
  /**
   * The node's tunnel here, if this replica serves (owns and holds the tunnel of) the node;
   * "unsupported" when its edge cannot take streams on it (a KubeEdge edgecore).
   */
  readonly session: (node: string) => { openStream: OpenStream } | "unsupported" | undefined;
  readonly authorizer: KubeletAuthorizer;
  /** An edge that has not begun its answer this long after the CONNECT gets the session ended with 504 (default 30 s). */
  readonly answerTimeoutMs?: number;
  readonly metrics?: CloudcoreMetrics;
  readonly log: Logger;
}

export type OpenStream = (type: StreamConnectType, payload: (id: number) => Uint8Array) => StreamSession;

/** Connection types by request kind (port-forward rides EXEC_CONNECT, see docs/architecture.md). */
const CONNECT_TYPE: Record<KubeletStreamRequest["kind"], StreamConnectType> = {
  logs: StreamMessageType.LogsConnect,
  exec: StreamMessageType.ExecConnect,
  attach: StreamMessageType.AttachConnect,
  portForward: StreamMessageType.ExecConnect,
};

/**
 * CloudStream: serves the apiserver's kubelet streaming requests for edge pods by opening a stream
 * session to the pod's node over its tunnel and relaying. The node comes from the pod (the request
 * names no node; DNAT hides which node address was dialled). Only the replica that owns a node
 * serves it; the apiserver is sent here by the Node's kubelet port (our tunnel port) and DNAT.
 */
export class CloudStream {
  readonly #sockets = new Set<Duplex>();
  readonly #log: Logger;
  #closed = false;

  constructor(private readonly options: CloudStreamOptions) {
    this.#log = options.log.child({ component: "cloudstream" });
  }

  get #answerTimeoutMs(): number {
    return this.options.answerTimeoutMs ?? 30_000;
  }

  /** Sessions being relayed. */
  get active(): number {
    return this.#sockets.size;
  }

  handle(call: StreamCall): void {
    const started = performance.now();
    void this.#serve(call, started).catch((err: unknown) => {
      const status = err instanceof StreamRequestError ? err.status : 500;
      const message = (err as Error).message;
      if (status >= 500) this.#log.warn({ err, url: call.req.url }, "stream request failed");
      else this.#log.info({ status, reason: message, url: call.req.url }, "stream request refused");
      this.options.metrics?.streamRequests.inc({ kind: kindOf(call.req.url), result: String(status) });
      refuse(call, status, message);
    });
  }

  /** Ends every session and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  async #serve(call: StreamCall, started: number): Promise<void> {
    if (this.#closed) throw new StreamRequestError(503, "cloudcore is shutting down");
    const url = new URL(call.req.url ?? "/", "https://stream.invalid");
    const method = call.req.method ?? "GET";
    const request = parseKubeletRequest(method, url.pathname, url.search.slice(1));
    if (call.kind === "plain" && request.kind !== "logs")
      throw new StreamRequestError(400, `/${request.kind} needs an upgrade request (Connection: Upgrade)`);
    const pod = await this.options.pod(request.namespace, request.pod);
    const node = pod?.spec?.nodeName;
    if (!pod || !node) throw new StreamRequestError(404, `pod "${request.pod}" does not exist`);
    if (!this.options.isEdgeNode(node))
      throw new StreamRequestError(
        404,
        `node "${node}" of pod "${request.pod}" is not an edge node served by edgefleet`,
      );
    const decision = await this.options.authorizer.authorize(call.caller, method, node);
    if (!decision.allowed)
      throw new StreamRequestError(
        403,
        `Forbidden (user=${call.caller.user}, verb=${method === "POST" ? "create" : "get"}, resource=nodes, subresource=proxy): ${decision.reason}`,
      );
    const tunnel = this.options.session(node);
    if (tunnel === "unsupported")
      throw new StreamRequestError(
        503,
        `node "${node}" runs a KubeEdge edgecore, which takes streams on KubeEdge's stream tunnel (not served by edgefleet)`,
      );
    if (!tunnel)
      throw new StreamRequestError(
        503,
        `node "${node}" has no tunnel to this cloudcore replica (offline, or served by another replica)`,
      );
    const headers = new Map<string, string[]>();
    for (let i = 0; i + 1 < call.req.rawHeaders.length; i += 2) {
      const name = (call.req.rawHeaders[i] ?? "").toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), call.req.rawHeaders[i + 1] ?? ""]);
    }
    const session = tunnel.openStream(CONNECT_TYPE[request.kind], (id) =>
      encodeConnectPayload({ id, method, path: url.pathname, query: url.search.slice(1), headers }),
    );
    if (session.ended) throw new StreamRequestError(503, `node "${node}": ${session.ended.reason}`);
    const log = this.#log.child({
      node,
      session: session.id,
      kind: request.kind,
      pod: `${request.namespace}/${request.pod}`,
    });
    this.options.metrics?.streamSessions.inc({ kind: request.kind });
    // An edge that never answers (hung, or too old to know streams) must not hold the apiserver's
    // request for ever: the caller gets 504 and the session ends on both sides.
    let timedOut = false;
    const answerTimer = setTimeout(() => {
      if (session.bytesReceived > 0 || session.ended) return;
      timedOut = true;
      const reason = `node "${node}" did not answer within ${this.#answerTimeoutMs} ms`;
      log.warn(reason);
      this.options.metrics?.streamRequests.inc({ kind: request.kind, result: "504" });
      refuse(call, 504, reason);
      session.end(reason);
    }, this.#answerTimeoutMs);
    answerTimer.unref();
    const result = await (
      call.kind === "upgrade"
        ? this.#relayUpgrade(call, session)
        : this.#relayResponse(call.req, call.res, session)
    ).finally(() => clearTimeout(answerTimer));
    this.options.metrics?.streamSessions.dec({ kind: request.kind });
    if (!timedOut) this.options.metrics?.streamRequests.inc({ kind: request.kind, result: "relayed" });
    this.options.metrics?.streamBytes.inc({ direction: "to_edge" }, result.sent);
    this.options.metrics?.streamBytes.inc({ direction: "from_edge" }, result.received);
    log.debug({ ms: Math.round(performance.now() - started), ...result }, "stream session ended");
  }

  async #relayUpgrade(
    call: Extract<StreamCall, { kind: "upgrade" }>,
    session: StreamSession,
  ): Promise<{ sent: number; received: number }> {
    if (call.head.byteLength > 0) session.write(call.head);
    this.#sockets.add(call.socket);
    try {
      const result = await relay(call.socket, session);
      return { sent: result.sent + call.head.byteLength, received: result.received };
    } finally {
      this.#sockets.delete(call.socket);
    }
  }

  /**
   * A log response: the edge sends a whole HTTP response (status, head, body until the end); its
   * status and content type become ours and the body is streamed through with back-pressure (the
   * edge's credit is returned once the apiserver's socket took the bytes).
   */
  #relayResponse(
    req: IncomingMessage,
    res: ServerResponse,
    session: StreamSession,
  ): Promise<{ sent: number; received: number }> {
    const socket = req.socket;
    this.#sockets.add(socket);
    return new Promise((resolve) => {
      let received = 0;
      const head = new ResponseHeadParser();
      const drainWaiters: (() => void)[] = [];
      res.on("close", () => session.end("the apiserver closed the connection"));
      session.onData((chunk, release) => {
        received += chunk.byteLength;
        if (res.writableEnded || res.destroyed) {
          release();
          return;
        }
        let body: Uint8Array = chunk;
        if (!res.headersSent) {
          let parsed;
          try {
            parsed = head.push(chunk);
          } catch (err) {
            release();
            res
              .writeHead(502, { "content-type": "text/plain" })
              .end(`the edge answered badly: ${(err as Error).message}\n`);
            session.end("bad response head");
            return;
          }
          if (!parsed) {
            release();
            return;
          }
          res.writeHead(parsed.status, {
            "content-type": parsed.headers.get("content-type") ?? "text/plain; charset=utf-8",
            ...(parsed.headers.has("content-length") && {
              "content-length": parsed.headers.get("content-length"),
            }),
          });
          // The status line goes out now (a follow may wait long for its first line).
          res.flushHeaders();
          body = parsed.rest;
        }
        if (body.byteLength === 0) {
          release();
          return;
        }
        if (res.write(body) && drainWaiters.length === 0) {
          release();
          return;
        }
        // The apiserver reads slower than the edge sends: the edge's credit comes back on drain.
        drainWaiters.push(release);
        if (drainWaiters.length === 1)
          res.once("drain", () => {
            for (const waiter of drainWaiters.splice(0)) waiter();
          });
      });
      session.onEnd((end) => {
        this.#sockets.delete(socket);
        if (!res.headersSent)
          res
            .writeHead(502, { "content-type": "text/plain" })
            .end(`the edge ended the session: ${end.reason || end.by}\n`);
        else if (!res.writableEnded) res.end();
        resolve({ sent: 0, received });
      });
    });
  }
}

function kindOf(url: string | undefined): string {
  const root = (url ?? "").split("/")[1]?.split("?")[0] ?? "";
  return ["containerLogs", "exec", "attach", "portForward"].includes(root)
    ? root === "containerLogs"
      ? "logs"
      : root
    : "other";
}

/** Answers a request that will not be served, as the kubelet does (plain text; the apiserver wraps it). */
function refuse(call: StreamCall, status: number, message: string): void {
  const body = `${message}\n`;
  if (call.kind === "plain") {
    if (call.res.headersSent) {
      call.res.destroy();
      return;
    }
    call.res.writeHead(status, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": Buffer.byteLength(body),
    });
    call.res.end(body);
    return;
  }
  if (call.socket.destroyed) return;
  call.socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
      `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
