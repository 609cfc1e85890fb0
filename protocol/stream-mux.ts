import {
  decodeStreamFrame,
  encodeStreamFrame,
  readUvarint,
  StreamMessageType,
  uvarintLength,
  writeUvarint,
} from "./stream-frame.js";

/**
 * Bytes a session may have in flight towards its peer before the peer returns credit. Small enough
 * that a tunnel carrying many sessions and the control messages never buffers much, large enough
 * that one session fills a 100 ms round trip at ~2.5 MB/s.
 */
export const STREAM_WINDOW_BYTES = 256 * 1024;
/** Largest DATA payload a session sends (KubeEdge's 256 B wastes frames; 1 MiB hogs the tunnel). */
export const STREAM_CHUNK_BYTES = 32 * 1024;

/** The session-opening message types. */
export type StreamConnectType =
  | typeof StreamMessageType.LogsConnect
  | typeof StreamMessageType.ExecConnect
  | typeof StreamMessageType.AttachConnect;

const CONNECT_TYPES: ReadonlySet<number> = new Set([
  StreamMessageType.LogsConnect,
  StreamMessageType.ExecConnect,
  StreamMessageType.AttachConnect,
]);

/** Why a session ended, as its owner sees it. */
export type StreamEnd =
  | { readonly by: "local"; readonly reason: string }
  | { readonly by: "peer"; readonly reason: string }
  | { readonly by: "tunnel"; readonly reason: string };

/** A peer broke the flow-control contract or sent a frame that does not decode. */
export class StreamProtocolError extends Error {
  override readonly name = "StreamProtocolError";
  readonly code = "EF_ERR_STREAM_PROTOCOL";
}

export interface StreamMuxOptions {
  /** Writes one frame to the tunnel; false when the tunnel is gone. */
  readonly send: (frame: Uint8Array) => boolean;
  /** Sessions the peer opens (the edge side): every CONNECT becomes a session handed here. */
  readonly onConnect?: (session: StreamSession, type: StreamConnectType, payload: Uint8Array) => void;
  readonly windowBytes?: number;
  readonly chunkBytes?: number;
}

/**
 * One side of the stream sessions multiplexed over a node's tunnel (KubeEdge's stream frames, plus
 * our WINDOW frame). Each session has its own credit in each direction, so a consumer that stops
 * reading stops only its own session's sender: one slow `kubectl exec` never stalls another, nor
 * the control messages sharing the tunnel.
 */
export class StreamMux {
  readonly #sessions = new Map<number, StreamSession>();
  #nextId = 1;
  #closed: string | undefined;

  constructor(private readonly options: StreamMuxOptions) {}

  get size(): number {
    return this.#sessions.size;
  }

  get windowBytes(): number {
    return this.options.windowBytes ?? STREAM_WINDOW_BYTES;
  }

  get chunkBytes(): number {
    return this.options.chunkBytes ?? STREAM_CHUNK_BYTES;
  }

  /**
   * Opens a session (the cloud side): sends the CONNECT, whose payload may name the session's id
   * (KubeEdge's `MessID`), and returns the session.
   */
  open(type: StreamConnectType, payload: (id: number) => Uint8Array): StreamSession {
    const id = this.#nextId++;
    const session = new StreamSession(id, this);
    if (this.#closed !== undefined) {
      session.closeFromTunnel(this.#closed);
      return session;
    }
    this.#sessions.set(id, session);
    if (!this.sendFrame(id, type, payload(id))) session.closeFromTunnel("the tunnel is not connected");
    return session;
  }

  /** One frame from the tunnel. A frame that does not decode throws StreamProtocolError. */
  receive(bytes: Uint8Array): void {
    let frame;
    try {
      frame = decodeStreamFrame(bytes);
    } catch (err) {
      throw new StreamProtocolError((err as Error).message);
    }
    const { connectId: id, type, data } = frame;
    if (CONNECT_TYPES.has(type)) {
      if (!this.options.onConnect || this.#sessions.has(id)) {
        this.sendFrame(id, StreamMessageType.RemoveConnect, utf8("sessions cannot be opened from this side"));
        return;
      }
      const session = new StreamSession(id, this);
      this.#sessions.set(id, session);
      this.options.onConnect(session, type as StreamConnectType, data);
      return;
    }
    if (type === StreamMessageType.CloseConnect) {
      this.closeAll("the peer closed every session");
      return;
    }
    const session = this.#sessions.get(id);
    // Frames of a session that already ended here (both sides may end at once): nothing to do.
    if (!session) return;
    switch (type) {
      case StreamMessageType.Data:
        session.received(data);
        return;
      case StreamMessageType.Window:
        session.credited(readUvarint(data, 0, "window")[0]);
        return;
      case StreamMessageType.RemoveConnect:
        this.#sessions.delete(id);
        session.closeFromPeer(Buffer.from(data).toString("utf8"));
        return;
      default:
        // METRIC_CONNECT: not served.
        this.sendFrame(id, StreamMessageType.RemoveConnect, utf8(`stream type ${type} is not served`));
    }
  }

  /** The tunnel is gone: every session ends; later opens fail at once (until reset()). */
  closeAll(reason: string): void {
    const sessions = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const session of sessions) session.closeFromTunnel(reason);
  }

  /** @internal */
  sendFrame(id: number, type: number, data: Uint8Array): boolean {
    return this.options.send(encodeStreamFrame({ connectId: id, type: type as StreamMessageType, data }));
  }

  /** @internal A session ended here: it sends REMOVE itself; forget it. */
  forget(id: number): void {
    this.#sessions.delete(id);
  }
}

type DataHandler = (chunk: Uint8Array, release: () => void) => void;

/**
 * One multiplexed session. `write` sends while credit lasts and says when to pause; data arriving is
 * handed to `onData` with a `release` callback, and the credit is returned to the peer only once
 * released, i.e. once this side's consumer took the bytes.
 */
export class StreamSession {
  #credit: number;
  /** Released bytes not yet returned to the peer as credit. */
  #toReturn = 0;
  /** Bytes the peer may still send before it must wait for our credit. */
  #peerCredit: number;
  #ended: StreamEnd | undefined;
  #bytesReceived = 0;
  #onData: DataHandler | undefined;
  /** Data that arrived before a handler was attached. */
  #early: Uint8Array[] = [];
  readonly #onWritable: (() => void)[] = [];
  readonly #onEnd: ((end: StreamEnd) => void)[] = [];

  constructor(
    readonly id: number,
    private readonly mux: StreamMux,
  ) {
    this.#credit = mux.windowBytes;
    this.#peerCredit = mux.windowBytes;
  }

  get ended(): StreamEnd | undefined {
    return this.#ended;
  }

  /** Data bytes that arrived from the peer so far. */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Bytes this side may still send. */
  get credit(): number {
    return this.#credit;
  }

  /**
   * Sends `bytes` in chunks. Returns false when the window is used up (or the session ended): the
   * caller stops producing until `onWritable`. A write is never refused for lack of credit, so the
   * window can be overdrawn by at most one write.
   */
  write(bytes: Uint8Array): boolean {
    if (this.#ended) return false;
    const chunk = this.mux.chunkBytes;
    for (let at = 0; at < bytes.byteLength; at += chunk) {
      const part = bytes.subarray(at, Math.min(bytes.byteLength, at + chunk));
      if (!this.mux.sendFrame(this.id, StreamMessageType.Data, part)) {
        this.closeFromTunnel("the tunnel is not connected");
        return false;
      }
      this.#credit -= part.byteLength;
    }
    return this.#credit > 0;
  }

  /** Receives the session's data; what arrived before is delivered at once. */
  onData(handler: DataHandler): void {
    this.#onData = handler;
    const early = this.#early;
    this.#early = [];
    for (const chunk of early) this.#deliver(chunk);
  }

  onWritable(handler: () => void): void {
    this.#onWritable.push(handler);
  }

  /** Called once, however the session ends; at once if it already has. */
  onEnd(handler: (end: StreamEnd) => void): void {
    if (this.#ended) handler(this.#ended);
    else this.#onEnd.push(handler);
  }

  /** Ends the session from this side: the peer gets REMOVE (with `reason`); idempotent. */
  end(reason = ""): void {
    if (this.#ended) return;
    this.mux.forget(this.id);
    this.mux.sendFrame(this.id, StreamMessageType.RemoveConnect, utf8(reason));
    this.#finish({ by: "local", reason });
  }

  /** @internal */
  received(data: Uint8Array): void {
    if (this.#ended) return;
    this.#bytesReceived += data.byteLength;
    this.#peerCredit -= data.byteLength;
    // The peer may overdraw by one write (see write()); beyond a whole extra window it ignores
    // credit altogether, and buffering for it would be unbounded.
    if (this.#peerCredit < -this.mux.windowBytes) {
      this.end("flow control violated: more data than the window allows");
      return;
    }
    if (this.#onData) this.#deliver(data);
    else this.#early.push(data);
  }

  /** @internal */
  credited(bytes: number): void {
    if (this.#ended) return;
    const wasBlocked = this.#credit <= 0;
    this.#credit += bytes;
    if (wasBlocked && this.#credit > 0) for (const handler of this.#onWritable) handler();
  }

  /** @internal */
  closeFromPeer(reason: string): void {
    this.#finish({ by: "peer", reason });
  }

  /** @internal */
  closeFromTunnel(reason: string): void {
    this.mux.forget(this.id);
    this.#finish({ by: "tunnel", reason });
  }

  #deliver(chunk: Uint8Array): void {
    let released = false;
    this.#onData?.(chunk, () => {
      if (released) return;
      released = true;
      this.#release(chunk.byteLength);
    });
  }

  #release(bytes: number): void {
    if (this.#ended) return;
    this.#toReturn += bytes;
    // Credit goes back in batches (a quarter window), not per chunk.
    if (this.#toReturn < this.mux.windowBytes / 4) return;
    const grant = this.#toReturn;
    this.#toReturn = 0;
    this.#peerCredit += grant;
    const data = new Uint8Array(uvarintLength(grant));
    writeUvarint(grant, data, 0);
    this.mux.sendFrame(this.id, StreamMessageType.Window, data);
  }

  #finish(end: StreamEnd): void {
    if (this.#ended) return;
    this.#ended = end;
    this.#early = [];
    const handlers = this.#onEnd.splice(0);
    this.#onWritable.length = 0;
    for (const handler of handlers) handler(end);
  }
}

function utf8(text: string): Uint8Array {
  return Buffer.from(text, "utf8");
}
