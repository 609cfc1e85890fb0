import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Cloudcore } from "../../cloudcore/cloudcore.js";
import { KubeRest, PatchType } from "../../cloudcore/kube/kube-rest.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { joinTestNode, testEdgecoreConfig } from "../../test/test-edgecore.js";
import { untilValue } from "../../test/until.js";
import { Edgecore } from "../edgecore.js";
import { ModbusMapper } from "./mappers/modbus-mapper.js";
import { startModbusServer, type TestModbusServer } from "./testkit/modbus-server.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });
const API = "/apis/devices.kubeedge.io/v1beta1";

interface TwinStatus {
  propertyName: string;
  reported?: { value: string };
  observedDesired?: { value: string };
}

describe("a Modbus device end to end: Device CR → edgecore → MQTT → mapper → register, and back", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `modbus-${suffix}`;
  const nodeName = `edge-modbus-${suffix}`;
  const work = mkdtempSync(join(tmpdir(), "edgefleet-modbus-"));
  let rest: KubeRest;
  let cloudcore: Cloudcore | undefined;
  let edgecore: Edgecore | undefined;
  let mapper: ModbusMapper | undefined;
  let modbus: TestModbusServer | undefined;

  const twins = async (): Promise<TwinStatus[]> => {
    const status = await rest
      .get(`${API}/namespaces/${namespace}/devicestatuses/boiler`)
      .catch(() => undefined);
    return ((status?.["status"] as { twins?: TwinStatus[] } | undefined)?.twins ?? []) as TwinStatus[];
  };
  const reported = (property: string, value: string): Promise<TwinStatus> =>
    untilValue(`status.twins ${property} = ${value}`, 30_000, async () =>
      (await twins()).find((t) => t.propertyName === property && t.reported?.value === value),
    );

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    cloudcore = await startTestCloudcore(kc, undefined, {
      logger: log,
      deviceWebhook: { port: 0 },
      edgeNodeSelector: `edgefleet.io/test=${namespace}`,
    });
    await rest.request("create", "/api/v1/namespaces", { body: { metadata: { name: namespace } } });
    const credentials = await joinTestNode(cloudcore, nodeName, work);
    const broker = env.mosquitto?.url ?? "";
    edgecore = new Edgecore({
      config: testEdgecoreConfig(
        { nodeName, tunnelPort: cloudcore.hub.port, work, containerdSocket: env.containerd?.socket ?? "" },
        { labels: { "edgefleet.io/test": namespace }, mqttBroker: broker },
      ),
      credentials,
      log,
    });
    await edgecore.start();
    await edgecore.hub.connected();
    modbus = await startModbusServer();
    mapper = new ModbusMapper({ brokerUrl: broker, nodeName, log, requestTimeoutMs: 1000 });
    await mapper.start();
    await mapper.connected();
  }, 120_000);

  afterAll(async () => {
    await mapper?.stop();
    await modbus?.close();
    await edgecore?.stop();
    await cloudcore?.close();
    await rest?.request("delete", `/api/v1/nodes/${nodeName}`).catch(() => undefined);
    await rest?.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it("reports a holding register's value in the cloud's status.twins", async () => {
    modbus?.setRegister(0, 18);
    modbus?.setRegister(1, 215);
    await rest.request("create", `${API}/namespaces/${namespace}/devicemodels`, {
      body: {
        apiVersion: "devices.kubeedge.io/v1beta1",
        kind: "DeviceModel",
        metadata: { name: "thermostat" },
        spec: {
          protocol: "modbus",
          properties: [
            { name: "target", type: "INT", accessMode: "ReadWrite", minimum: "0", maximum: "100" },
            { name: "temperature", type: "FLOAT", accessMode: "ReadOnly" },
          ],
        },
      },
    });
    const visitor = (offset: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
      protocolName: "modbus",
      configData: { register: "HoldingRegister", offset, limit: 1, ...extra },
    });
    await rest.request("create", `${API}/namespaces/${namespace}/devices`, {
      body: {
        apiVersion: "devices.kubeedge.io/v1beta1",
        kind: "Device",
        metadata: { name: "boiler" },
        spec: {
          deviceModelRef: { name: "thermostat" },
          nodeName,
          protocol: {
            protocolName: "modbus",
            configData: { ip: "127.0.0.1", port: modbus?.port, slaveID: 1 },
          },
          properties: [
            { name: "target", collectCycle: 200, reportToCloud: true, visitors: visitor(0) },
            {
              name: "temperature",
              collectCycle: 200,
              reportToCloud: true,
              visitors: visitor(1, { scale: 0.1 }),
            },
          ],
        },
      },
    });
    await reported("target", "18");
    await reported("temperature", "21.5");
    // A change on the device itself shows up too.
    modbus?.setRegister(1, 230);
    await reported("temperature", "23");
  });

  it("writes a desired value set in the cloud to the register, and reports it back", async () => {
    await rest.request("patch", `${API}/namespaces/${namespace}/devices/boiler`, {
      contentType: PatchType.Json,
      rawBody: JSON.stringify([{ op: "add", path: "/spec/properties/0/desired", value: { value: "42" } }]),
    });
    await untilValue("register 0 = 42", 30_000, async () => (modbus?.register(0) === 42 ? true : undefined));
    const twin = await reported("target", "42");
    expect(twin.observedDesired?.value).toBe("42");
  });
});
