/**
 * The stream tunnel's frames (KubeEdge's pkg/stream): one WebSocket TEXT frame each, holding
 * uvarint(connectID) ‖ uvarint(type) ‖ data. Binary data travels in text frames, so both ends must
 * skip UTF-8 validation. A session's data is cut into frames of at most MAX_STREAM_DATA bytes.
 */
export const StreamMessageType = {
  LogsConnect: 0,
  ExecConnect: 1,
  MetricConnect: 2,
  Data: 3,
  RemoveConnect: 4,
  CloseConnect: 5,
  AttachConnect: 6,
  /**
   * edgefleet's extension, never sent to a KubeEdge peer: the receiver of a session's data returns
   * credit (data = uvarint bytes) as it delivers it, so each session has its own send window
   * (protocol/stream-mux.ts).
   */
  Window: 7,
} as const;
export type StreamMessageType = (typeof StreamMessageType)[keyof typeof StreamMessageType];

const KNOWN_TYPES: ReadonlySet<number> = new Set(Object.values(StreamMessageType));

/** Largest data in one frame (KubeEdge's limit). */
export const MAX_STREAM_DATA = 1024 * 1024;

export interface StreamFrame {
  /** The session, numbered by the cloud side. */
  readonly connectId: number;
  readonly type: StreamMessageType;
  readonly data: Uint8Array;
}

/** A frame that does not decode; the tunnel that sent it is broken. */
export class StreamFrameError extends Error {
  override readonly name = "StreamFrameError";
  readonly code = "EF_ERR_STREAM_FRAME";
}

export function uvarintLength(value: number): number {
  let n = 1;
  for (let v = value; v >= 0x80; v = Math.floor(v / 128)) n++;
  return n;
}

export function writeUvarint(value: number, into: Uint8Array, at: number): number {
  let v = value;
  while (v >= 0x80) {
    into[at++] = (v % 128) | 0x80;
    v = Math.floor(v / 128);
  }
  into[at++] = v;
  return at;
}

/** Go's binary.Uvarint, limited to safe integers. */
export function readUvarint(from: Uint8Array, at: number, field: string): [number, number] {
  let value = 0;
  let scale = 1;
  for (let i = at; i < from.length && i < at + 8; i++) {
    const byte = from[i] ?? 0;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) {
      if (!Number.isSafeInteger(value)) throw new StreamFrameError(`${field}: varint too large`);
      return [value, i + 1];
    }
    scale *= 128;
  }
  throw new StreamFrameError(`${field}: truncated or over-long varint`);
}

export function encodeStreamFrame(frame: StreamFrame): Uint8Array {
  if (!Number.isSafeInteger(frame.connectId) || frame.connectId < 0)
    throw new StreamFrameError(`connectId: ${frame.connectId} is not a non-negative integer`);
  if (frame.data.byteLength > MAX_STREAM_DATA)
    throw new StreamFrameError(`data: ${frame.data.byteLength} bytes exceed ${MAX_STREAM_DATA}`);
  const out = new Uint8Array(
    uvarintLength(frame.connectId) + uvarintLength(frame.type) + frame.data.byteLength,
  );
  let at = writeUvarint(frame.connectId, out, 0);
  at = writeUvarint(frame.type, out, at);
  out.set(frame.data, at);
  return out;
}

/** Decodes one frame; throws StreamFrameError naming the part that is wrong. */
export function decodeStreamFrame(bytes: Uint8Array): StreamFrame {
  const [connectId, afterId] = readUvarint(bytes, 0, "connectId");
  const [type, afterType] = readUvarint(bytes, afterId, "type");
  if (!KNOWN_TYPES.has(type)) throw new StreamFrameError(`type: ${type} is not a stream message type`);
  const data = bytes.subarray(afterType);
  if (data.byteLength > MAX_STREAM_DATA)
    throw new StreamFrameError(`data: ${data.byteLength} bytes exceed ${MAX_STREAM_DATA}`);
  return { connectId, type: type as StreamMessageType, data };
}
