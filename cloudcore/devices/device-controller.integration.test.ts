import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { joinCloud } from "../../edgecore/hub/join.js";
import { newMessage } from "../../protocol/message.js";
import { TestEdge } from "../../test/edge-agent.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { until, untilValue } from "../../test/until.js";
import type { Cloudcore } from "../cloudcore.js";
import { KubeApiError, KubeRest } from "../kube/kube-rest.js";
import type { KubeObject } from "../kube/objects.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });
const API = "/apis/devices.kubeedge.io/v1beta1";

describe("DeviceController end to end: CRDs, validation, desired down, reported up", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `devices-${suffix}`;
  const nodeName = `edge-dev-${suffix}`;
  const certDir = mkdtempSync(join(tmpdir(), "edgefleet-dev-"));
  let rest: KubeRest;
  let cloudcore: Cloudcore;
  let edge: TestEdge;

  const create = (plural: string, body: unknown): Promise<KubeObject> =>
    rest.request("create", `${API}/namespaces/${namespace}/${plural}`, { body });
  const refusal = async (plural: string, body: unknown): Promise<string> => {
    try {
      await create(plural, body);
    } catch (err) {
      if (err instanceof KubeApiError) return `${err.statusCode} ${err.status.message ?? ""}`;
      throw err;
    }
    throw new Error(`${plural} was accepted`);
  };
  const device = (name: string, spec: Record<string, unknown>): unknown => ({
    apiVersion: "devices.kubeedge.io/v1beta1",
    kind: "Device",
    metadata: { name },
    spec: { deviceModelRef: { name: "thermostat" }, protocol: { protocolName: "modbus" }, ...spec },
  });
  const twinStatus = async (): Promise<{ propertyName: string; reported?: { value: string } }[]> => {
    const status = await rest
      .get(`${API}/namespaces/${namespace}/devicestatuses/boiler`)
      .catch(() => undefined);
    return ((status?.["status"] as { twins?: [] } | undefined)?.twins ?? []) as never;
  };

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    cloudcore = await startTestCloudcore(kc, undefined, {
      deviceWebhook: { port: 0 },
      edgeNodeSelector: `edgefleet.io/test=${namespace}`,
      logger: log,
    });
    await rest.request("create", "/api/v1/namespaces", { body: { metadata: { name: namespace } } });
    const { token } = await cloudcore.tokens.create({ ttlSeconds: 600, description: "devices" });
    const credentials = await joinCloud({
      server: `127.0.0.1:${cloudcore.certificates.port}`,
      token,
      nodeName,
      certDir,
    });
    edge = new TestEdge(nodeName, `127.0.0.1:${cloudcore.hub.port}`, credentials, log, {
      labels: { "edgefleet.io/test": namespace },
    });
    await edge.start();
    await edge.register();
  }, 60_000);

  afterAll(async () => {
    await edge.close();
    await cloudcore.close();
    await rest.request("delete", `/api/v1/nodes/${nodeName}`).catch(() => undefined);
    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rest.close();
    rmSync(certDir, { recursive: true, force: true });
  });

  it("refuses invalid DeviceModels with a message naming the property (CEL rules in the CRD)", async () => {
    const model = (properties: unknown[]): unknown => ({
      apiVersion: "devices.kubeedge.io/v1beta1",
      kind: "DeviceModel",
      metadata: { name: "bad" },
      spec: { protocol: "modbus", properties },
    });
    expect(
      await refusal("devicemodels", model([{ name: "t", type: "INT", minimum: "30", maximum: "10" }])),
    ).toMatch(/^422 .*property t: minimum 30 is greater than maximum 10/);
    expect(await refusal("devicemodels", model([{ name: "t", type: "INT", minimum: "1.5" }]))).toMatch(
      /property t: minimum 1.5 is not an integer/,
    );
    expect(await refusal("devicemodels", model([{ name: "t", type: "COLOR" }]))).toMatch(
      /Unsupported value: "COLOR"/,
    );
    expect(
      await refusal(
        "devicemodels",
        model([
          { name: "t", type: "INT" },
          { name: "t", type: "STRING" },
        ]),
      ),
    ).toMatch(/property names must be unique/);
  });

  it("refuses Devices with an unknown protocol (CEL) or a desired value of the wrong type or out of range (webhook)", async () => {
    await create("devicemodels", {
      apiVersion: "devices.kubeedge.io/v1beta1",
      kind: "DeviceModel",
      metadata: { name: "thermostat" },
      spec: {
        protocol: "modbus",
        properties: [
          { name: "target", type: "INT", accessMode: "ReadWrite", minimum: "10", maximum: "30", unit: "°C" },
          { name: "temperature", type: "DOUBLE", accessMode: "ReadOnly", unit: "°C" },
        ],
      },
    });
    expect(await refusal("devices", device("x", { protocol: { protocolName: "carrier-pigeon" } }))).toMatch(
      /unknown protocol carrier-pigeon; known protocols: modbus/,
    );
    expect(
      await refusal("devices", device("x", { properties: [{ name: "target", desired: { value: "99" } }] })),
    ).toMatch(/property target: desired value 99 is above the maximum 30/);
    expect(
      await refusal("devices", device("x", { properties: [{ name: "target", desired: { value: "warm" } }] })),
    ).toMatch(/property target: desired value "warm" is not an INT/);
    expect(await refusal("devices", device("x", { deviceModelRef: { name: "nope" } }))).toMatch(
      /device model "nope" does not exist/,
    );
  });

  it("sends a bound Device and its model to the node, and writes the reported twin into DeviceStatus", async () => {
    await create(
      "devices",
      device("boiler", {
        nodeName,
        properties: [
          {
            name: "target",
            desired: { value: "21" },
            reportCycle: 1000,
            collectCycle: 500,
            reportToCloud: true,
          },
          { name: "temperature", reportCycle: 1000, reportToCloud: true },
        ],
      }),
    );
    await until(
      "device, model and membership at the edge",
      () =>
        edge.store.has(`${namespace}/device/boiler`) && edge.store.has(`${namespace}/devicemodel/thermostat`),
      10_000,
    );
    const membership = edge.received.find((m) => m.route.resource === "membership");
    expect(membership?.route.group).toBe("twin");
    expect((membership?.content as { added_devices: { id: string }[] }).added_devices).toEqual([
      expect.objectContaining({ id: `${namespace}/boiler`, name: "boiler" }),
    ]);
    const sent = edge.store.get(`${namespace}/device/boiler`)?.content as {
      spec: { properties: { desired?: { value: string } }[] };
    };
    expect(sent.spec.properties[0]?.desired?.value).toBe("21");

    const reply = await edge.hub.request(
      newMessage({
        source: "twin",
        group: "resource",
        operation: "update",
        resource: `device/${namespace}/boiler/twin/edge_updated`,
        content: {
          event_id: "e1",
          timestamp: Date.now(),
          twin: {
            temperature: {
              actual: { value: "19.5", metadata: { timestamp: 1 } },
              metadata: { type: "double" },
            },
            target: { expected: { value: "21" }, actual: { value: "21" }, metadata: { type: "int" } },
            undeclared: { actual: { value: "1" } },
          },
        },
      }),
    );
    expect(reply.content).toBe("OK");
    const twins = await untilValue("twins in DeviceStatus", 10_000, async () => {
      const t = await twinStatus();
      return t.length === 2 ? t : undefined;
    });
    expect(twins).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          propertyName: "temperature",
          reported: { value: "19.5", metadata: { timestamp: "1", type: "double" } },
        }),
        expect.objectContaining({
          propertyName: "target",
          reported: expect.objectContaining({ value: "21" }),
          observedDesired: expect.objectContaining({ value: "21" }),
        }),
      ]),
    );
  });

  it("sends a changed desired value down, and takes the device off the node when it is deleted", async () => {
    const mark = edge.received.length;
    await rest.request("patch", `${API}/namespaces/${namespace}/devices/boiler`, {
      contentType: "application/json-patch+json",
      body: [{ op: "replace", path: "/spec/properties/0/desired/value", value: "25" }],
    });
    await until(
      "desired 25 at the edge",
      () => {
        const d = edge.store.get(`${namespace}/device/boiler`)?.content as
          { spec: { properties: { desired?: { value: string } }[] } } | undefined;
        return d?.spec.properties[0]?.desired?.value === "25";
      },
      10_000,
    );
    // The model did not change: it is not resent. (Node updates may interleave: the controller-manager
    // annotates new Nodes.)
    expect(
      edge.received
        .slice(mark)
        .map((m) => m.route.resource)
        .filter((r) => !r?.startsWith("null/node/")),
    ).toEqual([`${namespace}/device/boiler`]);

    await rest.request("delete", `${API}/namespaces/${namespace}/devices/boiler`);
    await until(
      "device and model removed at the edge",
      () =>
        !edge.store.has(`${namespace}/device/boiler`) &&
        !edge.store.has(`${namespace}/devicemodel/thermostat`),
      10_000,
    );
    const removed = edge.received.slice(mark).find((m) => m.route.resource === "membership");
    expect((removed?.content as { removed_devices: { id: string }[] }).removed_devices).toEqual([
      expect.objectContaining({ id: `${namespace}/boiler` }),
    ]);
  });
});
