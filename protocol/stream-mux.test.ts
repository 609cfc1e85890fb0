import { describe, expect, it } from "vitest";
import { StreamMessageType } from "./stream-frame.js";
import { StreamMux, type StreamSession } from "./stream-mux.js";

/** Two muxes joined back to back (cloud opens, edge accepts), delivering frames synchronously. */
function pair(windowBytes = 1000, chunkBytes = 100) {
  const accepted: StreamSession[] = [];
  const frames: { from: "cloud" | "edge"; type: number }[] = [];
  let tunnelUp = true;
  // eslint-disable-next-line prefer-const -- the two muxes refer to each other
  let edge: StreamMux;
  const cloud = new StreamMux({
    windowBytes,
    chunkBytes,
    send: (frame) => {
      if (!tunnelUp) return false;
      frames.push({ from: "cloud", type: frame[1] ?? -1 });
      edge.receive(frame);
      return true;
    },
  });
  edge = new StreamMux({
    windowBytes,
    chunkBytes,
    send: (frame) => {
      if (!tunnelUp) return false;
      frames.push({ from: "edge", type: frame[1] ?? -1 });
      cloud.receive(frame);
      return true;
    },
    onConnect: (session) => accepted.push(session),
  });
  return { cloud, edge, accepted, frames, cut: () => (tunnelUp = false) };
}

const bytes = (n: number, fill = 1): Uint8Array => new Uint8Array(n).fill(fill);

describe("stream sessions multiplexed over a tunnel", () => {
  it("opens a session on the peer with its payload and id, and carries data both ways in order", () => {
    const { cloud, accepted } = pair();
    const payloads: string[] = [];
    const session = cloud.open(StreamMessageType.ExecConnect, (id) => Buffer.from(`id=${id}`));
    const edgeSide = accepted[0];
    expect(edgeSide?.id).toBe(session.id);
    const toEdge: number[] = [];
    const toCloud: number[] = [];
    edgeSide?.onData((chunk, release) => {
      toEdge.push(...chunk);
      release();
    });
    session.onData((chunk, release) => {
      toCloud.push(...chunk);
      payloads.push(Buffer.from(chunk).toString());
      release();
    });
    session.write(new Uint8Array([1, 2, 3]));
    edgeSide?.write(Buffer.from("ok"));
    session.write(new Uint8Array([4]));
    expect(toEdge).toEqual([1, 2, 3, 4]);
    expect(payloads).toEqual(["ok"]);
  });

  it("stops a writer once its window is used and lets it go on only as the reader releases", () => {
    const { cloud, accepted } = pair(1000, 100);
    const session = cloud.open(StreamMessageType.ExecConnect, () => new Uint8Array());
    const held: (() => void)[] = [];
    accepted[0]?.onData((_chunk, release) => held.push(release));
    let writable = 0;
    session.onWritable(() => writable++);
    expect(session.write(bytes(600))).toBe(true);
    expect(session.write(bytes(400))).toBe(false); // exactly the window
    expect(session.credit).toBe(0);
    // Released bytes come back in quarter-window batches.
    held.splice(0, 2).forEach((release) => release()); // 200 bytes: not yet a batch
    expect(session.credit).toBe(0);
    held.splice(0, 1).forEach((release) => release()); // 300 ≥ 250: returned
    expect(session.credit).toBe(300);
    expect(writable).toBe(1);
  });

  it("keeps one session's stalled reader from holding up another session", () => {
    const { cloud, accepted } = pair(1000, 100);
    const slow = cloud.open(StreamMessageType.ExecConnect, () => new Uint8Array());
    const fast = cloud.open(StreamMessageType.ExecConnect, () => new Uint8Array());
    accepted[0]?.onData(() => undefined); // never released
    let fastReceived = 0;
    accepted[1]?.onData((chunk, release) => {
      fastReceived += chunk.byteLength;
      release();
    });
    expect(slow.write(bytes(1000))).toBe(false);
    for (let i = 0; i < 50; i++) expect(fast.write(bytes(200))).toBe(true);
    expect(fastReceived).toBe(10_000);
    expect(slow.credit).toBe(0);
  });

  it("ends a session whose peer ignores the window", () => {
    const { edge, accepted, cloud } = pair(1000, 100);
    cloud.open(StreamMessageType.ExecConnect, () => new Uint8Array());
    const edgeSide = accepted[0];
    edgeSide?.onData(() => undefined);
    // A peer that ignored credit: frames straight into the edge's mux.
    const data = (n: number): Uint8Array => {
      const frame = new Uint8Array(2 + n);
      frame[0] = edgeSide?.id ?? 0;
      frame[1] = StreamMessageType.Data;
      return frame;
    };
    for (let i = 0; i < 30; i++) edge.receive(data(100));
    expect(edgeSide?.ended?.reason).toMatch(/flow control/);
  });

  it("tells each side how a session ended: by the peer's REMOVE, locally, or with the tunnel", () => {
    const { cloud, accepted, cut } = pair();
    const a = cloud.open(StreamMessageType.LogsConnect, () => new Uint8Array());
    const b = cloud.open(StreamMessageType.LogsConnect, () => new Uint8Array());
    accepted[0]?.end("container exited");
    expect(a.ended).toEqual({ by: "peer", reason: "container exited" });
    expect(accepted[0]?.ended).toEqual({ by: "local", reason: "container exited" });
    expect(cloud.size).toBe(1);
    cut();
    cloud.closeAll("tunnel closed");
    expect(b.ended).toEqual({ by: "tunnel", reason: "tunnel closed" });
    expect(cloud.size).toBe(0);
    const c = cloud.open(StreamMessageType.LogsConnect, () => new Uint8Array());
    expect(c.ended?.by).toBe("tunnel");
  });

  it("refuses sessions opened from the side that does not accept them", () => {
    const { edge, frames } = pair();
    edge.open(StreamMessageType.ExecConnect, () => new Uint8Array());
    // The cloud answered the edge's CONNECT with REMOVE.
    expect(frames.map((f) => `${f.from}:${f.type}`)).toEqual([
      `edge:${StreamMessageType.ExecConnect}`,
      `cloud:${StreamMessageType.RemoveConnect}`,
    ]);
  });

  it("hands data that arrived before a reader was attached to that reader", () => {
    const { cloud, accepted } = pair();
    const session = cloud.open(StreamMessageType.ExecConnect, () => new Uint8Array());
    session.write(Buffer.from("early"));
    let got = "";
    accepted[0]?.onData((chunk, release) => {
      got += Buffer.from(chunk).toString();
      release();
    });
    expect(got).toBe("early");
  });
});
