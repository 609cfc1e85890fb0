import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeFrame } from "./decoder.js";
import { encodeMessage } from "./encoder.js";
import { FrameError } from "./errors.js";

// Frames as KubeEdge writes them (shared/reference/kubeedge.md §3, ids shortened).
const CLOUD_INSERT =
  '{"header":{"msg_id":"c1","timestamp":1718000000000,"resourceversion":"4242"},"route":{"source":"edgecontroller","group":"resource","operation":"insert","resource":"default/pod/nginx"},"content":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"nginx"}}}';
const EDGE_ACK =
  '{"header":{"msg_id":"e9","parent_msg_id":"c1","timestamp":1718000000050},"route":{"source":"edgecontroller","group":"resource","operation":"response","resource":"default/pod/nginx"},"content":"OK"}';
const EDGE_NODEPATCH =
  '{"header":{"msg_id":"e2","timestamp":1718000001000},"route":{"source":"edged","group":"meta","operation":"patch","resource":"null/nodepatch/edge-1"},"content":"{\\"status\\":{}}"}';
const KEEPALIVE =
  '{"header":{"msg_id":"k1","timestamp":1718000002000},"route":{"source":"websocket","group":"resource","operation":"keepalive","resource":"node"},"content":"ping"}';

describe("decodeFrame", () => {
  it("decodes KubeEdge's frames and re-encodes them byte for byte", () => {
    for (const frame of [CLOUD_INSERT, EDGE_ACK, EDGE_NODEPATCH, KEEPALIVE]) {
      const message = decodeFrame(frame);
      expect(encodeMessage(message)).toBe(frame);
    }
    expect(decodeFrame(EDGE_ACK).header.parent_msg_id).toBe("c1");
    expect(decodeFrame(EDGE_NODEPATCH).content).toBe('{"status":{}}');
  });

  it("accepts binary frames (Buffer and ArrayBuffer) as UTF-8", () => {
    const buf = Buffer.from(CLOUD_INSERT);
    expect(decodeFrame(buf).route.resource).toBe("default/pod/nginx");
    const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
    expect(decodeFrame(ab).header.resourceversion).toBe("4242");
  });

  it("treats empty optional fields as absent and defaults missing route and content (Go semantics)", () => {
    const message = decodeFrame(
      '{"header":{"msg_id":"a","parent_msg_id":"","timestamp":1,"resourceversion":"","sync":false,"type":"","extra":1},"unknown":true}',
    );
    expect(message).toEqual({ header: { msg_id: "a", timestamp: 1 }, route: {}, content: null });
  });

  it.each([
    ['{"route":{}}', "header"],
    ['{"header":{"timestamp":1}}', "header.msg_id"],
    ['{"header":{"msg_id":"","timestamp":1}}', "header.msg_id"],
    ['{"header":{"msg_id":"a","timestamp":"1"}}', "header.timestamp"],
    ['{"header":{"msg_id":"a","timestamp":1.5}}', "header.timestamp"],
    ['{"header":{"msg_id":"a","timestamp":-1}}', "header.timestamp"],
    ['{"header":{"msg_id":"a","timestamp":1,"sync":"yes"}}', "header.sync"],
    ['{"header":{"msg_id":"a","timestamp":1},"route":{"operation":5}}', "route.operation"],
    ['{"header":{"msg_id":"a","timestamp":1},"route":"x"}', "route"],
    [`{"header":{"msg_id":"${"x".repeat(129)}","timestamp":1}}`, "header.msg_id"],
    ["[1,2]", "(message)"],
    ["null", "(message)"],
  ])("rejects %s naming field %s", (frame, field) => {
    const error = (() => {
      try {
        decodeFrame(frame);
      } catch (err) {
        return err;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(FrameError);
    expect(error).toMatchObject({ code: "EF_ERR_FRAME_INVALID", field });
    expect((error as Error).message).toContain(field);
  });

  it("rejects non-JSON and oversized frames with their own codes", () => {
    expect(() => decodeFrame("{not json")).toThrow(
      expect.objectContaining({ code: "EF_ERR_FRAME_NOT_JSON" }),
    );
    expect(() => decodeFrame(CLOUD_INSERT, { maxFrameBytes: 100 })).toThrow(
      expect.objectContaining({ code: "EF_ERR_FRAME_TOO_LARGE" }),
    );
  });

  it("fuzz - arbitrary bytes only ever yield a message or a FrameError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        try {
          decodeFrame(bytes);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("fuzz - arbitrary JSON values only ever yield a message or a FrameError", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        try {
          const message = decodeFrame(JSON.stringify(value) ?? "null");
          expect(typeof message.header.msg_id).toBe("string");
          expect(Number.isInteger(message.header.timestamp)).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(FrameError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("fuzz - every truncation and single-byte corruption of a valid frame is decoded or rejected cleanly", () => {
    const outcomes = { decoded: 0, rejected: 0 };
    const check = (frame: string): void => {
      try {
        decodeFrame(frame);
        outcomes.decoded++;
      } catch (err) {
        expect(err).toBeInstanceOf(FrameError);
        outcomes.rejected++;
      }
    };
    for (let i = 0; i < CLOUD_INSERT.length; i++) check(CLOUD_INSERT.slice(0, i));
    fc.assert(
      fc.property(fc.nat(CLOUD_INSERT.length - 1), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const bytes = Buffer.from(CLOUD_INSERT);
        bytes[at] = byte;
        check(bytes.toString("latin1"));
      }),
      { numRuns: 2000 },
    );
    expect(outcomes.rejected).toBeGreaterThan(CLOUD_INSERT.length - 1);
  });

  it("property - any well-formed message survives encode then decode unchanged", () => {
    const text = (max: number): fc.Arbitrary<string> => fc.string({ minLength: 1, maxLength: max });
    const message = fc.record({
      header: fc.record(
        {
          msg_id: text(64),
          parent_msg_id: text(64),
          timestamp: fc.nat(),
          resourceversion: fc.stringMatching(/^[0-9]{1,12}$/),
          sync: fc.constant(true),
          type: text(16),
        },
        { requiredKeys: ["msg_id", "timestamp"] },
      ),
      route: fc.record(
        {
          source: text(32),
          destination: text(32),
          group: text(16),
          operation: text(16),
          resource: text(200),
        },
        { requiredKeys: [] },
      ),
      content: fc.jsonValue(),
    });
    fc.assert(
      fc.property(message, (m) => {
        const decoded = decodeFrame(encodeMessage(m));
        // JSON cannot carry -0; everything else must come back as it was.
        expect(JSON.stringify(decoded)).toBe(encodeMessage(m));
      }),
      { numRuns: 1000 },
    );
  });
});
