import type { StreamSession } from "../../protocol/stream-mux.js";

/** The session ended while a writer was waiting for credit. */
export class SessionEndedError extends Error {
  override readonly name = "SessionEndedError";
  readonly code = "EF_ERR_STREAM_ENDED";
}

/**
 * An async writer into a stream session: resolves once the bytes are sent and the session has
 * credit for more, so a producer (a log follower) runs at the pace of the reader at the far end.
 */
export function sessionWriter(session: StreamSession): (bytes: Uint8Array | string) => Promise<void> {
  let waiting: { resolve: () => void; reject: (err: Error) => void } | undefined;
  session.onWritable(() => {
    const w = waiting;
    waiting = undefined;
    w?.resolve();
  });
  session.onEnd((end) => {
    const w = waiting;
    waiting = undefined;
    w?.reject(
      new SessionEndedError(`stream session ended (${end.by}${end.reason ? `: ${end.reason}` : ""})`),
    );
  });
  return async (bytes) => {
    if (session.ended) throw new SessionEndedError("stream session ended");
    const data = typeof bytes === "string" ? Buffer.from(bytes, "utf8") : bytes;
    if (session.write(data) || session.ended) {
      if (session.ended) throw new SessionEndedError("stream session ended");
      return;
    }
    await new Promise<void>((resolve, reject) => (waiting = { resolve, reject }));
  };
}
