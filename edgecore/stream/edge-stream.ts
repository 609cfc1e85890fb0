import type { Logger } from "pino";
import { StreamMux, StreamProtocolError, type StreamSession } from "../../protocol/stream-mux.js";
import { relay } from "../../protocol/stream-relay.js";
import {
  decodeConnectPayload,
  parseKubeletRequest,
  StreamRequestError,
  type LogRequest,
} from "../../protocol/stream-request.js";
import type { CriClient } from "../edged/cri/cri-client.js";
import type { EdgeHub } from "../hub/edgehub.js";
import type { EdgecoreMetrics } from "../metrics.js";
import { streamContainerLog } from "./container-logs.js";
import { httpErrorResponse, httpStreamHead } from "./http-response.js";
import { ContainerNotFoundError, locateContainerLog } from "./log-locator.js";
import { openRuntimeStream } from "./runtime-stream.js";
import { SessionEndedError, sessionWriter } from "./session-writer.js";

export interface EdgeStreamOptions {
  readonly hub: EdgeHub;
  readonly cri: CriClient;
  readonly nodeName: string;
  readonly log: Logger;
  readonly metrics?: EdgecoreMetrics;
}

/**
 * EdgeStream: serves the kubelet's streaming API (`kubectl logs`, `exec`, `attach`,
 * `port-forward`) for sessions the cloud opens over the tunnel. Logs are read from the runtime's
 * CRI log files; exec, attach and port-forward are relayed byte for byte to the runtime's own
 * streaming server (containerd's), so the SPDY session runs between the apiserver and containerd
 * exactly as it does with a kubelet. Each session answers with a complete HTTP response, errors
 * included, which the cloud hands to the apiserver unchanged.
 */
export class EdgeStream {
  readonly #mux: StreamMux;
  readonly #log: Logger;
  #closed = false;

  constructor(private readonly options: EdgeStreamOptions) {
    this.#log = options.log.child({ component: "edgestream" });
    this.#mux = new StreamMux({
      send: (frame) => options.hub.sendBinary(frame),
      onConnect: (session, _type, payload) => this.#serve(session, payload),
    });
    options.hub.onBinary((frame) => {
      if (this.#closed) return;
      try {
        this.#mux.receive(frame);
      } catch (err) {
        if (!(err instanceof StreamProtocolError)) throw err;
        this.#log.warn({ reason: err.message }, "stream frame from the cloud rejected");
      }
    });
    options.hub.onStatus((status) => {
      // Sessions live on one tunnel: when it drops they are gone (the apiserver's side is closed
      // by the cloud at the same moment).
      if (status.type !== "connected") this.#mux.closeAll(`tunnel ${status.type}`);
    });
  }

  /** Sessions being served. */
  get sessions(): number {
    return this.#mux.size;
  }

  /** Ends every session; later ones are refused. */
  close(): void {
    this.#closed = true;
    this.#mux.closeAll("edgecore stopping");
  }

  #serve(session: StreamSession, payload: Uint8Array): void {
    let kind = "unknown";
    void this.#handle(session, payload, (k) => (kind = k)).then(
      () => this.options.metrics?.streamSessions.inc({ kind, result: "ok" }),
      (err: unknown) => {
        const status = err instanceof StreamRequestError ? err.status : 500;
        this.options.metrics?.streamSessions.inc({ kind, result: String(status) });
        if (!(err instanceof StreamRequestError))
          this.#log.error({ err, session: session.id }, "stream session failed");
        if (!session.ended) {
          session.write(httpErrorResponse(status, (err as Error).message));
          session.end((err as Error).message);
        }
      },
    );
  }

  async #handle(session: StreamSession, payload: Uint8Array, named: (kind: string) => void): Promise<void> {
    const connect = decodeConnectPayload(payload);
    const request = parseKubeletRequest(connect.method, connect.path, connect.query);
    named(request.kind);
    const log = this.#log.child({
      session: session.id,
      kind: request.kind,
      pod: `${request.namespace}/${request.pod}`,
    });
    log.debug("stream session opened");
    const started = performance.now();
    if (request.kind === "logs") {
      await this.#serveLogs(session, request);
      log.debug({ ms: Math.round(performance.now() - started) }, "log session done");
      return;
    }
    const socket = await openRuntimeStream(this.options.cri, this.options.nodeName, request, connect);
    const result = await relay(socket, session);
    log.debug(
      {
        ms: Math.round(performance.now() - started),
        up: result.received,
        down: result.sent,
        end: result.end,
      },
      "stream session done",
    );
  }

  async #serveLogs(session: StreamSession, request: LogRequest): Promise<void> {
    let located;
    try {
      located = await locateContainerLog(this.options.cri, { node: this.options.nodeName, ...request });
    } catch (err) {
      if (err instanceof ContainerNotFoundError) throw new StreamRequestError(404, err.message);
      throw err;
    }
    const write = sessionWriter(session);
    const stop = new AbortController();
    session.onEnd(() => stop.abort());
    // The apiserver may stop reading (the user pressed Ctrl-C): the session's end aborts the follow.
    session.onData((_chunk, release) => release());
    await write(httpStreamHead());
    // From here the response has begun: a failure can only cut it short.
    try {
      await streamContainerLog(located.path, request, write, {
        running: located.running,
        signal: stop.signal,
      });
      session.end();
    } catch (err) {
      if (err instanceof SessionEndedError) return;
      this.#log.warn({ err, session: session.id }, "reading the container log failed");
      session.end((err as Error).message);
    }
  }
}
