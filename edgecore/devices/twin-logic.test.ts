import { describe, expect, it } from "vitest";
import type { DeviceModelObject, DeviceObject } from "./payloads.js";
import {
  buildProfile,
  desiredTwins,
  pendingDelta,
  sameValue,
  twinJson,
  valueProblem,
  type TwinRecord,
} from "./twin-logic.js";

const twin = (property: string, fields: Partial<TwinRecord>): TwinRecord => ({
  deviceId: "ns/d",
  property,
  type: "int",
  desired: null,
  desiredAt: null,
  desiredVersion: 0,
  reported: null,
  reportedAt: null,
  reportedVersion: 0,
  observedDesired: null,
  observedDesiredAt: null,
  ...fields,
});

const model: DeviceModelObject = {
  metadata: { namespace: "ns", name: "thermostat" },
  spec: {
    protocol: "modbus",
    protocolConfigData: { port: 502, slaveID: 1 },
    properties: [
      {
        name: "target",
        type: "INT",
        accessMode: "ReadWrite",
        visitors: {
          protocolName: "modbus",
          configData: { register: "HoldingRegister", offset: 0, scale: 1 },
        },
      },
      { name: "temperature", type: "FLOAT", accessMode: "ReadOnly" },
    ],
  },
};

const device: DeviceObject = {
  metadata: { namespace: "ns", name: "boiler" },
  spec: {
    deviceModelRef: { name: "thermostat" },
    protocol: { protocolName: "modbus", configData: { ip: "127.0.0.1", port: 1502 } },
    properties: [
      {
        name: "target",
        desired: { value: "21" },
        visitors: { configData: { offset: 4 } },
        collectCycle: 500,
      },
      { name: "temperature", desired: { value: "" }, reportToCloud: true },
    ],
  },
};

describe("desired twins", () => {
  it("desiredTwins - one twin per declared property, typed by the model, empty desired counts as none", () => {
    expect(desiredTwins(device, model)).toEqual([
      { property: "target", type: "int", desired: "21" },
      { property: "temperature", type: "float", desired: null },
    ]);
  });

  it("desiredTwins - without the model the twins are untyped", () => {
    expect(desiredTwins(device, undefined).map((t) => t.type)).toEqual(["", ""]);
  });
});

describe("delta", () => {
  it("pendingDelta - lists desired values the device does not report, numbers compared as numbers", () => {
    expect(
      pendingDelta([
        twin("a", { desired: "21", reported: "20" }),
        twin("b", { desired: "21", reported: "21.0", type: "float" }),
        twin("c", { desired: "5", reported: null }),
        twin("d", { desired: null, reported: "7" }),
        twin("e", { desired: "on", reported: "ON", type: "string" }),
      ]),
    ).toEqual({ a: "21", c: "5", e: "on" });
  });

  it("sameValue - booleans ignore case, strings do not", () => {
    expect(sameValue("boolean", "TRUE", "true")).toBe(true);
    expect(sameValue("string", "TRUE", "true")).toBe(false);
    expect(sameValue("int", "007", "7")).toBe(true);
  });
});

describe("value checks", () => {
  it("valueProblem - accepts double (KubeEdge's ValidateValue refuses the type), refuses non-numbers", () => {
    expect(valueProblem("double", "19.5")).toBeUndefined();
    expect(valueProblem("float", "1e3")).toBeUndefined();
    expect(valueProblem("int", "-12")).toBeUndefined();
    expect(valueProblem("int", "1.5")).toMatch(/not an int/);
    expect(valueProblem("boolean", "yes")).toMatch(/true or false/);
    expect(valueProblem("colour", "red")).toMatch(/not one of/);
    expect(valueProblem("", "anything at all")).toBeUndefined();
  });
});

describe("wire view", () => {
  it("twinJson - carries expected and actual with their times and the type", () => {
    expect(twinJson(twin("a", { desired: "21", desiredAt: 5, reported: "20", reportedAt: 6 }))).toEqual({
      expected: { value: "21", metadata: { timestamp: 5 } },
      actual: { value: "20", metadata: { timestamp: 6 } },
      metadata: { type: "int" },
    });
    expect(twinJson(twin("a", { type: "" }))).toEqual({ metadata: { type: "string" } });
  });
});

describe("device profile", () => {
  it("buildProfile - model visitors and protocol config are defaults that instance keys override", () => {
    const profile = buildProfile(device, model);
    expect(profile?.protocol).toEqual({
      protocolName: "modbus",
      configData: { ip: "127.0.0.1", port: 1502, slaveID: 1 },
    });
    expect(profile?.properties[0]).toEqual({
      name: "target",
      type: "INT",
      accessMode: "ReadWrite",
      collectCycle: 500,
      reportToCloud: false,
      visitors: { protocolName: "modbus", configData: { register: "HoldingRegister", offset: 4, scale: 1 } },
    });
    expect(profile?.properties[1]).toMatchObject({
      name: "temperature",
      accessMode: "ReadOnly",
      reportToCloud: true,
    });
  });

  it("buildProfile - a delete stub without spec has no profile", () => {
    expect(buildProfile({ metadata: { namespace: "ns", name: "x" } }, model)).toBeUndefined();
  });
});
