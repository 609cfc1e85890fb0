import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import { responseTo, type Message } from "../../protocol/message.js";
import { openEdgeDatabase, type SqliteDatabase } from "../meta/database.js";
import { DeviceTwin } from "./device-twin.js";
import { InvalidDeviceObjectError } from "./errors.js";
import { FakeBus } from "./testkit/fake-bus.js";

const NODE = "edge-1";
const ID = "ns/boiler";
const T = (suffix: string): string => `$hw/events/device/${ID}/${suffix}`;
const log = pino({ level: "silent" });

const model = {
  apiVersion: "devices.kubeedge.io/v1beta1",
  kind: "DeviceModel",
  metadata: { namespace: "ns", name: "thermostat" },
  spec: {
    protocol: "modbus",
    properties: [
      { name: "target", type: "INT", accessMode: "ReadWrite" },
      { name: "temperature", type: "FLOAT", accessMode: "ReadOnly" },
    ],
  },
};

const device = (target?: string): object => ({
  apiVersion: "devices.kubeedge.io/v1beta1",
  kind: "Device",
  metadata: { namespace: "ns", name: "boiler", resourceVersion: "1" },
  spec: {
    deviceModelRef: { name: "thermostat" },
    nodeName: NODE,
    protocol: { protocolName: "modbus", configData: { ip: "127.0.0.1" } },
    properties: [
      { name: "target", ...(target !== undefined && { desired: { value: target } }), reportToCloud: true },
      { name: "temperature", reportToCloud: true },
    ],
  },
});

type Cloud = "ok" | "offline" | "refuse";

interface Setup {
  readonly twin: DeviceTwin;
  readonly bus: FakeBus;
  readonly sent: Message[];
  cloud: Cloud;
}

const open: { twin: DeviceTwin; db: SqliteDatabase }[] = [];
afterEach(async () => {
  for (const { twin, db } of open.splice(0)) {
    await twin.stop();
    db.close();
  }
});

async function setup(
  options: { cloud?: Cloud; maxReportAttempts?: number; now?: () => number } = {},
): Promise<Setup> {
  const db = openEdgeDatabase(":memory:");
  const bus = new FakeBus();
  const sent: Message[] = [];
  const state: Setup = {
    bus,
    sent,
    cloud: options.cloud ?? "ok",
    twin: undefined as unknown as DeviceTwin,
  };
  const twin = new DeviceTwin(
    {
      db,
      nodeName: NODE,
      brokerUrl: "mqtt://127.0.0.1:1",
      log,
      // Retries only when a test says so (onCloudConnected); the backoff timer never fires in a test.
      reportRetry: { initialMs: 600_000, maxMs: 600_000 },
      ...(options.maxReportAttempts !== undefined && { maxReportAttempts: options.maxReportAttempts }),
      ...(options.now && { now: options.now }),
      upstream: async (message) => {
        if (state.cloud === "offline") throw new Error("tunnel down");
        sent.push(message);
        return responseTo(message, state.cloud === "ok" ? "OK" : "device report refused: no");
      },
    },
    { bus },
  );
  Object.assign(state, { twin });
  open.push({ twin, db });
  await twin.start();
  return state;
}

async function withDevice(options: Parameters<typeof setup>[0] = {}, target?: string): Promise<Setup> {
  const s = await setup(options);
  await s.twin.applyCloudObject({
    operation: "insert",
    namespace: "ns",
    type: "devicemodel",
    name: "thermostat",
    object: model,
  });
  await s.twin.applyCloudObject({
    operation: "insert",
    namespace: "ns",
    type: "device",
    name: "boiler",
    object: device(target),
  });
  return s;
}

const report = (twin: Record<string, unknown>, eventId = "e1"): object => ({
  event_id: eventId,
  timestamp: 1,
  twin,
});

describe("devicetwin - mapper messages", () => {
  it("twin/update - a payload that is not a twin update is answered with 400 on update/result and stores nothing", async () => {
    const { twin, bus } = await withDevice();
    bus.deliver(T("twin/update"), "not json");
    bus.deliver(T("twin/update"), { event_id: "e2", twin: { target: { metadata: { type: "int" } } } });
    expect(bus.on(T("twin/update/result"))).toEqual([
      expect.objectContaining({ event_id: "", code: 400, reason: "payload is not JSON" }),
      expect.objectContaining({
        event_id: "e2",
        code: 400,
        reason: expect.stringMatching(/neither actual nor expected/),
      }),
    ]);
    expect(twin.twins(ID).every((t) => t.reported === null)).toBe(true);
    expect(twin.stats.badPayloads).toBe(2);
  });

  it("twin/update - a device the node does not hold is answered with 404", async () => {
    const { bus } = await setup();
    bus.deliver("$hw/events/device/ns/ghost/twin/update", report({ t: { actual: { value: "1" } } }));
    expect(bus.on("$hw/events/device/ns/ghost/twin/update/result")).toEqual([
      expect.objectContaining({ event_id: "e1", code: 404 }),
    ]);
  });

  it("twin/update - a property the Device does not declare, or a value not of its type, is refused whole", async () => {
    const { twin, bus } = await withDevice();
    bus.deliver(
      T("twin/update"),
      report({ target: { actual: { value: "20" } }, humidity: { actual: { value: "3" } } }),
    );
    bus.deliver(T("twin/update"), report({ target: { actual: { value: "warm" } } }, "e2"));
    const results = bus.on(T("twin/update/result")) as { code: number; reason: string }[];
    expect(results.map((r) => r.code)).toEqual([400, 400]);
    expect(results[0]?.reason).toMatch(/humidity: device ns\/boiler declares no such property/);
    expect(results[1]?.reason).toMatch(/target: "warm" is not an int/);
    expect(twin.twins(ID).find((t) => t.property === "target")?.reported).toBeNull();
  });

  it("twin/update - a changed value is stored, answered, documented and goes up as edge_updated; the same value again costs nothing", async () => {
    const { twin, bus, sent } = await withDevice();
    bus.deliver(
      T("twin/update"),
      report({ temperature: { actual: { value: "19.5" }, metadata: { type: "float" } } }),
    );
    expect(bus.on(T("twin/update/result"))).toEqual([
      {
        event_id: "e1",
        timestamp: expect.any(Number),
        twin: {
          temperature: expect.objectContaining({ actual: expect.objectContaining({ value: "19.5" }) }),
        },
      },
    ]);
    expect(bus.on(T("twin/update/document"))).toEqual([
      expect.objectContaining({
        twin: {
          temperature: {
            last: { metadata: { type: "float" } },
            current: expect.objectContaining({ actual: expect.objectContaining({ value: "19.5" }) }),
          },
        },
      }),
    ]);
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]?.route).toEqual({
      source: "twin",
      group: "resource",
      operation: "update",
      resource: `device/${ID}/twin/edge_updated`,
    });
    expect(sent[0]?.content).toEqual({
      event_id: expect.any(String),
      timestamp: expect.any(Number),
      twin: {
        temperature: {
          actual: { value: "19.5", metadata: { timestamp: expect.any(Number) } },
          metadata: { type: "float" },
        },
      },
    });

    bus.deliver(T("twin/update"), report({ temperature: { actual: { value: "19.5" } } }, "e2"));
    expect(bus.on(T("twin/update/result"))).toHaveLength(2);
    expect(bus.on(T("twin/update/document"))).toHaveLength(1);
    await new Promise((r) => setImmediate(r));
    expect(sent).toHaveLength(1);
    expect(twin.twins(ID).find((t) => t.property === "temperature")?.reportedVersion).toBe(1);
  });

  it("twin/get - answers with every twin, expected and actual; a bad payload gets 400", async () => {
    const { bus } = await withDevice({}, "21");
    bus.deliver(T("twin/get"), { event_id: "g1" });
    bus.deliver(T("twin/get"), "[");
    expect(bus.on(T("twin/get/result"))).toEqual([
      {
        event_id: "g1",
        timestamp: expect.any(Number),
        twin: {
          target: {
            expected: { value: "21", metadata: { timestamp: expect.any(Number) } },
            metadata: { type: "int" },
          },
          temperature: { metadata: { type: "float" } },
        },
      },
      expect.objectContaining({ code: 400 }),
    ]);
  });

  it("state/update - answered on state/update/result and sent up as a JSON string; a repeated state within the refresh period is not", async () => {
    let now = 1_718_000_000_000;
    const { bus, sent } = await withDevice({ now: () => now });
    bus.deliver(T("state/update"), { event_id: "s1", state: "online" });
    bus.deliver(T("state/update"), { event_id: "s2", state: "online" });
    bus.deliver(T("state/update"), { event_id: "s3", state: "sleepy" });
    const results = bus.on(T("state/update/result"));
    expect(results[0]).toEqual({
      event_id: "s1",
      timestamp: now,
      device: { name: "boiler", state: "online", lastOnlineTime: "2024-06-10T06:13:20Z" },
    });
    expect(results[2]).toEqual(expect.objectContaining({ event_id: "s3", code: 400 }));
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]?.route.resource).toBe(`device/${ID}/state/update`);
    expect(JSON.parse(sent[0]?.content as string)).toEqual(
      expect.objectContaining({
        device: { name: "boiler", state: "online", lastOnlineTime: "2024-06-10T06:13:20Z" },
      }),
    );
    now += 1000;
    bus.deliver(T("state/update"), { state: "offline" });
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    // lastOnlineTime stays the last time it was online.
    expect(JSON.parse(sent[1]?.content as string).device).toEqual({
      name: "boiler",
      state: "offline",
      lastOnlineTime: "2024-06-10T06:13:20Z",
    });
  });
});

describe("devicetwin - desired values", () => {
  it("applyCloudObject - a desired value the device does not report goes to the mapper as a delta", async () => {
    const { bus } = await withDevice({}, "21");
    expect(bus.on(T("twin/update/delta"))).toEqual([
      {
        event_id: expect.any(String),
        timestamp: expect.any(Number),
        twin: {
          target: {
            expected: { value: "21", metadata: { timestamp: expect.any(Number) } },
            metadata: { type: "int" },
          },
        },
        delta: { target: "21" },
      },
    ]);
  });

  it("twin/update - while the device lacks the desired value every report is followed by a delta (as KubeEdge), none once it has it", async () => {
    const { bus } = await withDevice({}, "21");
    bus.clear();
    bus.deliver(T("twin/update"), report({ target: { actual: { value: "0" } } }));
    expect(bus.on(T("twin/update/delta"))).toHaveLength(1);
    bus.deliver(T("twin/update"), report({ target: { actual: { value: "21" }, expected: { value: "21" } } }));
    expect(bus.on(T("twin/update/delta"))).toHaveLength(1);
  });

  it("applyCloudObject - an update that keeps the desired value sends no delta; a changed one does", async () => {
    const { twin, bus } = await withDevice({}, "21");
    bus.deliver(T("twin/update"), report({ target: { actual: { value: "21" } } }));
    bus.clear();
    await twin.applyCloudObject({
      operation: "update",
      namespace: "ns",
      type: "device",
      name: "boiler",
      object: device("21"),
    });
    expect(bus.on(T("twin/update/delta"))).toEqual([]);
    await twin.applyCloudObject({
      operation: "update",
      namespace: "ns",
      type: "device",
      name: "boiler",
      object: device("30"),
    });
    expect(bus.on(T("twin/update/delta"))).toEqual([expect.objectContaining({ delta: { target: "30" } })]);
    const target = twin.twins(ID).find((t) => t.property === "target");
    expect(target).toMatchObject({ desired: "30", desiredVersion: 2, reported: "21" });
  });

  it("applyCloudObject - a Device that does not parse is refused and nothing is stored", async () => {
    const { twin } = await setup();
    await expect(
      twin.applyCloudObject({
        operation: "insert",
        namespace: "ns",
        type: "device",
        name: "x",
        object: { metadata: { name: "x" } },
      }),
    ).rejects.toBeInstanceOf(InvalidDeviceObjectError);
    expect(twin.devices()).toEqual([]);
  });

  it("applyCloudObject - the profile is published retained with the model's types, and cleared when the Device is deleted", async () => {
    const { twin, bus } = await withDevice({}, "21");
    const topic = `edgefleet/node/${NODE}/device/${ID}/profile`;
    const [profile] = bus.published.filter((p) => p.topic === topic);
    expect(profile?.retain).toBe(true);
    expect(JSON.parse(profile?.payload ?? "")).toMatchObject({
      format: 1,
      id: ID,
      protocol: { protocolName: "modbus", configData: { ip: "127.0.0.1" } },
      properties: [
        { name: "target", type: "INT", accessMode: "ReadWrite" },
        { name: "temperature", type: "FLOAT", accessMode: "ReadOnly" },
      ],
    });
    await twin.applyCloudObject({
      operation: "delete",
      namespace: "ns",
      type: "device",
      name: "boiler",
      object: { metadata: { namespace: "ns", name: "boiler" } },
    });
    expect(bus.published.filter((p) => p.topic === topic).at(-1)).toEqual({
      topic,
      payload: "",
      retain: true,
    });
    expect(twin.devices()).toEqual([]);
  });

  it("profile - a retained profile of a device this node does not hold is cleared", async () => {
    const { bus } = await setup();
    const topic = `edgefleet/node/${NODE}/device/ns/gone/profile`;
    bus.deliver(topic, { format: 1 });
    expect(bus.published).toEqual([{ topic, payload: "", retain: true }]);
  });
});

describe("devicetwin - membership", () => {
  it("membership - added devices are announced on membership/updated and listed by membership/get; removed ones are dropped", async () => {
    const { twin, bus } = await setup();
    const membership = (content: object): Message => ({
      header: { msg_id: "m1", timestamp: 1 },
      route: { source: "devicecontroller", group: "twin", operation: "update", resource: "membership" },
      content,
    });
    await twin.handleCloudMessage(
      membership({
        event_id: "x",
        timestamp: 1,
        added_devices: [{ id: ID, name: "boiler", description: "hot" }],
        removed_devices: null,
      }),
    );
    expect(bus.on(`$hw/events/node/${NODE}/membership/updated`)).toEqual([
      expect.objectContaining({
        added_devices: [{ id: ID, name: "boiler", description: "hot" }],
        removed_devices: null,
      }),
    ]);
    bus.deliver(`$hw/events/node/${NODE}/membership/get`, { event_id: "g" });
    expect(bus.on(`$hw/events/node/${NODE}/membership/get/result`)).toEqual([
      {
        event_id: "g",
        timestamp: expect.any(Number),
        devices: [{ id: ID, name: "boiler", description: "hot" }],
      },
    ]);
    // A member without its Device yet accepts reports of any property (KubeEdge adds twins on the fly).
    bus.deliver(T("twin/update"), report({ anything: { actual: { value: "1" } } }));
    expect(twin.twins(ID).map((t) => t.property)).toEqual(["anything"]);

    await twin.handleCloudMessage(
      membership({ added_devices: null, removed_devices: [{ id: ID, name: "boiler" }] }),
    );
    expect(twin.devices()).toEqual([]);
    expect(bus.on(`$hw/events/node/${NODE}/membership/updated`)).toHaveLength(2);
  });
});

describe("devicetwin - reports to the cloud", () => {
  it("reports - kept while the cloud is unreachable, merged per device, and sent once it is back", async () => {
    const s = await withDevice({ cloud: "offline" });
    s.bus.deliver(T("twin/update"), report({ temperature: { actual: { value: "19.5" } } }));
    s.bus.deliver(
      T("twin/update"),
      report({ temperature: { actual: { value: "19.7" } }, target: { actual: { value: "20" } } }),
    );
    await new Promise((r) => setImmediate(r));
    expect(s.sent).toEqual([]);
    s.cloud = "ok";
    s.twin.onCloudConnected();
    await vi.waitFor(() => expect(s.sent).toHaveLength(1));
    expect((s.sent[0]?.content as { twin: Record<string, { actual: { value: string } }> }).twin).toEqual({
      temperature: expect.objectContaining({ actual: expect.objectContaining({ value: "19.7" }) }),
      target: expect.objectContaining({ actual: expect.objectContaining({ value: "20" }) }),
    });
    s.twin.onCloudConnected();
    await new Promise((r) => setImmediate(r));
    expect(s.sent).toHaveLength(1);
  });

  it("reports - a report the cloud keeps refusing is dropped after maxReportAttempts", async () => {
    const s = await withDevice({ cloud: "refuse", maxReportAttempts: 2 });
    s.bus.deliver(T("twin/update"), report({ temperature: { actual: { value: "19.5" } } }));
    await vi.waitFor(() => expect(s.sent).toHaveLength(1));
    s.twin.onCloudConnected();
    await vi.waitFor(() => expect(s.twin.stats.reports.dropped).toBe(1));
    s.cloud = "ok";
    s.twin.onCloudConnected();
    await new Promise((r) => setImmediate(r));
    expect(s.sent).toHaveLength(2);
  });

  it("reports - queued reports survive a restart of DeviceTwin on the same database", async () => {
    const db = openEdgeDatabase(":memory:");
    const sent: Message[] = [];
    let online = false;
    const make = (bus: FakeBus): DeviceTwin =>
      new DeviceTwin(
        {
          db,
          nodeName: NODE,
          brokerUrl: "mqtt://127.0.0.1:1",
          log,
          reportRetry: { initialMs: 600_000, maxMs: 600_000 },
          upstream: async (m) => {
            if (!online) throw new Error("offline");
            sent.push(m);
            return responseTo(m, "OK");
          },
        },
        { bus },
      );
    const bus1 = new FakeBus();
    const first = make(bus1);
    await first.start();
    await first.applyCloudObject({
      operation: "insert",
      namespace: "ns",
      type: "device",
      name: "boiler",
      object: device(),
    });
    bus1.deliver(T("twin/update"), report({ temperature: { actual: { value: "18" } } }));
    await first.stop();
    online = true;
    const second = make(new FakeBus());
    await second.start();
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    await second.stop();
    db.close();
  });
});
