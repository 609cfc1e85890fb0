import type { Duplex } from "node:stream";
import type { StreamEnd, StreamSession } from "./stream-mux.js";

export interface RelayResult {
  /** Bytes read from the socket and sent into the session. */
  readonly sent: number;
  /** Bytes received from the session and written to the socket. */
  readonly received: number;
  readonly end: StreamEnd;
}

/**
 * Moves bytes both ways between a socket and a stream session until either ends, with
 * back-pressure on both sides: the socket is paused while the session has no credit, and credit is
 * returned to the peer only once the socket accepted the bytes (its write callback). A slow reader
 * on one end therefore slows its own writer on the other end and nothing else.
 */
export function relay(socket: Duplex, session: StreamSession): Promise<RelayResult> {
  let sent = 0;
  let received = 0;
  return new Promise((resolve) => {
    session.onData((chunk, release) => {
      received += chunk.byteLength;
      if (socket.destroyed || socket.writableEnded) {
        release();
        return;
      }
      socket.write(chunk, () => release());
    });
    session.onWritable(() => socket.resume());
    const onData = (chunk: Buffer): void => {
      sent += chunk.byteLength;
      if (!session.write(chunk)) socket.pause();
    };
    // The socket ended (its peer is done) or closed: the session ends with it.
    const onEnd = (): void => session.end();
    const onClose = onEnd;
    const onError = (err: Error): void => session.end(err.message);
    socket.on("data", onData);
    socket.on("end", onEnd);
    socket.on("close", onClose);
    socket.on("error", onError);
    session.onEnd((end) => {
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", onClose);
      // Writes already accepted are flushed before the FIN; a socket that never drains is cut.
      if (!socket.destroyed) {
        socket.end();
        const cut = setTimeout(() => socket.destroy(), 10_000);
        cut.unref();
        socket.once("close", () => clearTimeout(cut));
      }
      socket.off("error", onError);
      socket.on("error", () => undefined);
      resolve({ sent, received, end });
    });
  });
}
