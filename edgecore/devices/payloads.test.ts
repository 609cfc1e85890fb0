import { describe, expect, it } from "vitest";
import { describeZodError, DeviceObject, MembershipUpdate, TwinUpdatePayload } from "./payloads.js";
import { parseTopic } from "./topics.js";

describe("payloads", () => {
  it("twin/update - parses the report KubeEdge's mapper-framework sends", () => {
    const parsed = TwinUpdatePayload.safeParse({
      event_id: "",
      timestamp: 1718000000000,
      twin: {
        temperature: { actual: { value: "19.5" }, expected: { value: "" }, metadata: { type: "float" } },
      },
    });
    expect(parsed.success).toBe(true);
  });

  it("twin/update - refuses a null twin (KubeEdge's delete), a twin without values, a bad name, a long value", () => {
    const problem = (twin: unknown): string => {
      const parsed = TwinUpdatePayload.safeParse({ twin });
      return parsed.success ? "" : describeZodError(parsed.error);
    };
    expect(problem({ t: null })).toMatch(/^twin\.t: /);
    expect(problem({ t: { metadata: { type: "int" } } })).toMatch(/neither actual nor expected/);
    expect(problem({ "a b": { actual: { value: "1" } } })).toMatch(/not a valid twin name/);
    expect(problem({ t: { actual: { value: "x".repeat(513) } } })).toMatch(/^twin\.t\.actual\.value/);
    expect(TwinUpdatePayload.safeParse({ event_id: "e" }).success).toBe(false);
  });

  it("membership - null device lists (KubeEdge's nil slices) are accepted", () => {
    const parsed = MembershipUpdate.parse({
      event_id: "e",
      timestamp: 1,
      added_devices: [{ id: "ns/a", name: "a", description: "" }],
      removed_devices: null,
    });
    expect(parsed.added_devices?.[0]?.id).toBe("ns/a");
  });

  it("device object - a delete stub with only metadata is a Device", () => {
    expect(DeviceObject.safeParse({ metadata: { namespace: "ns", name: "d", uid: "u" } }).success).toBe(true);
    expect(DeviceObject.safeParse({ metadata: { name: "d" } }).success).toBe(false);
  });
});

describe("topics", () => {
  it("parseTopic - a device id spans two levels; results are told apart by suffix", () => {
    expect(parseTopic("$hw/events/device/ns/boiler/twin/update/result")).toEqual({
      kind: "device",
      deviceId: "ns/boiler",
      suffix: "twin/update/result",
    });
    expect(parseTopic("$hw/events/node/edge-1/membership/get")).toEqual({
      kind: "node",
      nodeName: "edge-1",
      suffix: "membership/get",
    });
    expect(parseTopic("edgefleet/node/edge-1/device/ns/boiler/profile")).toEqual({
      kind: "profile",
      nodeName: "edge-1",
      deviceId: "ns/boiler",
    });
    expect(parseTopic("$hw/events/device/only-one-level")).toBeUndefined();
    expect(parseTopic("other/topic")).toBeUndefined();
  });
});
