import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeStreamFrame,
  encodeStreamFrame,
  MAX_STREAM_DATA,
  StreamFrameError,
  StreamMessageType,
} from "./stream-frame.js";

describe("stream frames", () => {
  it("encode as uvarint id, uvarint type, then the data, as KubeEdge's pkg/stream does", () => {
    const bytes = encodeStreamFrame({
      connectId: 300,
      type: StreamMessageType.Data,
      data: new Uint8Array([7, 8]),
    });
    // 300 = 0b10_0101100 → 0xac 0x02
    expect([...bytes]).toEqual([0xac, 0x02, 3, 7, 8]);
  });

  it("round-trip any id, type and data", () => {
    const types = Object.values(StreamMessageType);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        fc.constantFrom(...types),
        fc.uint8Array({ maxLength: 300 }),
        (connectId, type, data) => {
          const decoded = decodeStreamFrame(encodeStreamFrame({ connectId, type, data }));
          expect(decoded.connectId).toBe(connectId);
          expect(decoded.type).toBe(type);
          expect([...decoded.data]).toEqual([...data]);
        },
      ),
    );
  });

  it("refuse unknown types, truncated varints and oversized data with the part named", () => {
    expect(() => decodeStreamFrame(new Uint8Array([1, 9]))).toThrow(/type: 9/);
    expect(() => decodeStreamFrame(new Uint8Array([0x80]))).toThrow(StreamFrameError);
    expect(() => decodeStreamFrame(new Uint8Array([]))).toThrow(/connectId/);
    expect(() =>
      encodeStreamFrame({
        connectId: 1,
        type: StreamMessageType.Data,
        data: new Uint8Array(MAX_STREAM_DATA + 1),
      }),
    ).toThrow(/data/);
  });
});
