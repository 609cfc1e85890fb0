import { randomBytes } from "node:crypto";
import mqtt from "mqtt";
import { pino } from "pino";
import { afterEach, describe, expect, inject, it } from "vitest";
import { responseTo, type Message } from "../../protocol/message.js";
import { untilValue } from "../../test/until.js";
import { openEdgeDatabase, type SqliteDatabase } from "../meta/database.js";
import { DeviceTwin } from "./device-twin.js";
import { ModbusMapper } from "./mappers/modbus-mapper.js";
import { startModbusServer, type TestModbusServer } from "./testkit/modbus-server.js";

/** The device states the cloud was sent, in order. */
const states = (r: Rig): string[] =>
  r.upstream
    .filter((m) => m.route.resource === `device/${r.namespace}/boiler/state/update`)
    .map((m) => (JSON.parse(m.content as string) as { device: { state: string } }).device.state);

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

interface Rig {
  readonly node: string;
  readonly namespace: string;
  readonly twin: DeviceTwin;
  readonly mapper: ModbusMapper;
  modbus: TestModbusServer & { readonly holding: Buffer };
  readonly upstream: Message[];
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function brokerUrl(): string {
  if (!env.mosquitto) throw new Error("environment started without mosquitto");
  return env.mosquitto.url;
}

/** DeviceTwin (upstream recorded, answered "OK"), the Modbus mapper and a Modbus server, all running. */
async function rig(): Promise<Rig> {
  const suffix = randomBytes(3).toString("hex");
  const node = `edge-${suffix}`;
  const namespace = `devices-${suffix}`;
  const db: SqliteDatabase = openEdgeDatabase(":memory:");
  cleanups.push(async () => {
    db.close();
  });
  const modbus = await startModbusServer();
  const upstream: Message[] = [];
  const twin = new DeviceTwin({
    db,
    nodeName: node,
    brokerUrl: brokerUrl(),
    log,
    upstream: async (message) => {
      upstream.push(message);
      return responseTo(message, "OK");
    },
  });
  cleanups.push(() => twin.stop());
  const mapper = new ModbusMapper({
    brokerUrl: brokerUrl(),
    nodeName: node,
    log,
    requestTimeoutMs: 1000,
    reconnectMs: 50,
    maxReconnectMs: 200,
  });
  cleanups.push(() => mapper.stop());
  await Promise.all([twin.start(), mapper.start()]);
  await Promise.all([twin.connected(), mapper.connected()]);
  const r: Rig = { node, namespace, twin, mapper, modbus, upstream };
  // Closes whichever server the test left running (it may restart it).
  cleanups.unshift(() => r.modbus.close());
  return r;
}

async function applyThermostat(
  r: Rig,
  target: string | undefined,
  operation: "insert" | "update" = "insert",
): Promise<void> {
  if (operation === "insert")
    await r.twin.applyCloudObject({
      operation: "insert",
      namespace: r.namespace,
      type: "devicemodel",
      name: "thermostat",
      object: {
        apiVersion: "devices.kubeedge.io/v1beta1",
        kind: "DeviceModel",
        metadata: { namespace: r.namespace, name: "thermostat" },
        spec: {
          protocol: "modbus",
          properties: [
            { name: "target", type: "INT", accessMode: "ReadWrite" },
            { name: "temperature", type: "FLOAT", accessMode: "ReadOnly" },
          ],
        },
      },
    });
  await r.twin.applyCloudObject({
    operation,
    namespace: r.namespace,
    type: "device",
    name: "boiler",
    object: {
      apiVersion: "devices.kubeedge.io/v1beta1",
      kind: "Device",
      metadata: { namespace: r.namespace, name: "boiler" },
      spec: {
        deviceModelRef: { name: "thermostat" },
        nodeName: r.node,
        protocol: {
          protocolName: "modbus",
          configData: { ip: "127.0.0.1", port: r.modbus.port, slaveID: 1 },
        },
        properties: [
          {
            name: "target",
            ...(target !== undefined && { desired: { value: target } }),
            collectCycle: 100,
            reportToCloud: true,
            visitors: {
              protocolName: "modbus",
              configData: { register: "HoldingRegister", offset: 0, limit: 1 },
            },
          },
          {
            name: "temperature",
            collectCycle: 100,
            reportToCloud: true,
            visitors: {
              protocolName: "modbus",
              configData: { register: "HoldingRegister", offset: 1, limit: 1, scale: 0.1 },
            },
          },
        ],
      },
    },
  });
}

type TwinReport = {
  twin: Record<
    string,
    { actual?: { value: string }; expected?: { value: string }; metadata?: { type: string } }
  >;
};

/** The first edge_updated report from `from` on whose `property` `match` holds. */
function reported(
  r: Rig,
  property: string,
  match: (t: TwinReport["twin"][string]) => boolean,
  from = 0,
): Promise<TwinReport["twin"][string]> {
  return untilValue(`twin/edge_updated with ${property}`, 15_000, async () => {
    for (const m of r.upstream.slice(from)) {
      if (m.route.resource !== `device/${r.namespace}/boiler/twin/edge_updated`) continue;
      const t = (m.content as TwinReport).twin[property];
      if (t && match(t)) return t;
    }
    return undefined;
  });
}

describe("devices - DeviceTwin, Mosquitto and the Modbus mapper", () => {
  it("a device applied from the cloud is polled by the mapper and its scaled register value goes up as twin/edge_updated", async () => {
    const r = await rig();
    r.modbus.setRegister(1, 215);
    await applyThermostat(r, undefined);
    const first = await reported(r, "temperature", (t) => t.actual?.value === "21.5");
    expect(first.metadata).toEqual({ type: "float" });
    const message = r.upstream.find(
      (m) => m.route.resource === `device/${r.namespace}/boiler/twin/edge_updated`,
    );
    expect(message?.route).toMatchObject({ source: "twin", group: "resource", operation: "update" });

    const mark = r.upstream.length;
    r.modbus.setRegister(1, 230);
    await reported(r, "temperature", (t) => t.actual?.value === "23", mark);
    expect(r.twin.twins(`${r.namespace}/boiler`).find((t) => t.property === "temperature")?.reported).toBe(
      "23",
    );
  });

  it("a desired value set in the cloud is written to the holding register and reported back as actual and observed desired", async () => {
    const r = await rig();
    await applyThermostat(r, "21");
    await untilValue("register 0 = 21", 15_000, async () => (r.modbus.register(0) === 21 ? true : undefined));
    await reported(r, "target", (t) => t.actual?.value === "21" && t.expected?.value === "21");

    const mark = r.upstream.length;
    await applyThermostat(r, "30", "update");
    await untilValue("register 0 = 30", 15_000, async () => (r.modbus.register(0) === 30 ? true : undefined));
    await reported(r, "target", (t) => t.actual?.value === "30" && t.expected?.value === "30", mark);
    expect(r.twin.twins(`${r.namespace}/boiler`).find((t) => t.property === "target")).toMatchObject({
      desired: "30",
      reported: "30",
      observedDesired: "30",
    });
  });

  it("a mapper's twin/get and a malformed twin/update over the broker are answered on their result topics", async () => {
    const r = await rig();
    await applyThermostat(r, "21");
    const id = `${r.namespace}/boiler`;
    const client = await mqtt.connectAsync(brokerUrl(), { reconnectPeriod: 0 });
    cleanups.push(() => client.endAsync());
    const results: { topic: string; payload: Record<string, unknown> }[] = [];
    client.on("message", (topic, payload) =>
      results.push({ topic, payload: JSON.parse(payload.toString("utf8")) as Record<string, unknown> }),
    );
    await client.subscribeAsync([
      `$hw/events/device/${id}/twin/get/result`,
      `$hw/events/device/${id}/twin/update/result`,
    ]);
    await client.publishAsync(`$hw/events/device/${id}/twin/get`, JSON.stringify({ event_id: "g1" }), {
      qos: 1,
    });
    await client.publishAsync(`$hw/events/device/${id}/twin/update`, "{", { qos: 1 });
    const answer = (suffix: string, match: (p: Record<string, unknown>) => boolean): Promise<unknown> =>
      untilValue(
        suffix,
        10_000,
        async () =>
          results.find((m) => m.topic === `$hw/events/device/${id}/${suffix}` && match(m.payload))?.payload,
      );
    // The mapper's own reports are answered on update/result too: pick ours out.
    expect(await answer("twin/get/result", (p) => p["event_id"] === "g1")).toMatchObject({
      twin: { target: { expected: { value: "21" }, metadata: { type: "int" } } },
    });
    expect(await answer("twin/update/result", (p) => p["code"] !== undefined)).toMatchObject({
      event_id: "",
      code: 400,
      reason: "payload is not JSON",
    });
  });

  it("a Modbus device that goes away is reported offline, and online again with fresh values once it is back", async () => {
    const r = await rig();
    r.modbus.setRegister(1, 200);
    await applyThermostat(r, undefined);
    await untilValue("state online", 15_000, async () => (states(r).includes("online") ? true : undefined));
    await reported(r, "temperature", (t) => t.actual?.value === "20");

    const { port, holding } = r.modbus;
    await r.modbus.close();
    await untilValue("state offline", 15_000, async () =>
      states(r).at(-1) === "offline" ? true : undefined,
    );

    holding.writeUInt16BE(250, 2);
    r.modbus = await startModbusServer({ port, holding });
    const mark = r.upstream.length;
    await untilValue("state online again", 15_000, async () =>
      states(r).at(-1) === "online" ? true : undefined,
    );
    await reported(r, "temperature", (t) => t.actual?.value === "25", mark);
  });

  it("a desired value the register can only hold rounded is written once, not in a report-delta loop", async () => {
    const r = await rig();
    await r.twin.applyCloudObject({
      operation: "insert",
      namespace: r.namespace,
      type: "devicemodel",
      name: "valve",
      object: {
        metadata: { namespace: r.namespace, name: "valve" },
        spec: { properties: [{ name: "opening", type: "FLOAT", accessMode: "ReadWrite" }] },
      },
    });
    await r.twin.applyCloudObject({
      operation: "insert",
      namespace: r.namespace,
      type: "device",
      name: "valve-1",
      object: {
        metadata: { namespace: r.namespace, name: "valve-1" },
        spec: {
          deviceModelRef: { name: "valve" },
          protocol: { protocolName: "modbus", configData: { ip: "127.0.0.1", port: r.modbus.port } },
          properties: [
            {
              name: "opening",
              desired: { value: "21.5" },
              collectCycle: 100,
              reportToCloud: true,
              visitors: { configData: { register: "HoldingRegister", offset: 5 } },
            },
          ],
        },
      },
    });
    await untilValue("register 5 = 22", 15_000, async () => (r.modbus.register(5) === 22 ? true : undefined));
    const before = r.twin.stats.handled;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    // One report per 100 ms poll (and its delta, which writes nothing): about 10 a second, not thousands.
    expect(r.twin.stats.handled - before).toBeLessThan(30);
    expect(r.twin.twins(`${r.namespace}/valve-1`)[0]).toMatchObject({ desired: "21.5", reported: "22" });
  });
});
