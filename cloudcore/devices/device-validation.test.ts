import { describe, expect, it } from "vitest";
import { deviceProblems, type DeviceJson, type DeviceModelJson } from "./device-validation.js";

const model: DeviceModelJson = {
  metadata: { name: "thermo" },
  spec: {
    properties: [
      { name: "target", type: "INT", accessMode: "ReadWrite", minimum: "10", maximum: "30" },
      { name: "ratio", type: "DOUBLE", accessMode: "ReadWrite", maximum: "1.5" },
      { name: "on", type: "BOOLEAN", accessMode: "ReadWrite" },
      { name: "temperature", type: "DOUBLE", accessMode: "ReadOnly" },
      { name: "label", type: "STRING", accessMode: "ReadWrite" },
    ],
  },
};
const device = (properties: { name: string; value?: string }[]): DeviceJson => ({
  spec: {
    deviceModelRef: { name: "thermo" },
    properties: properties.map((p) =>
      p.value === undefined ? { name: p.name } : { name: p.name, desired: { value: p.value } },
    ),
  },
});

describe("deviceProblems", () => {
  it("accepts values of the right type within range", () => {
    expect(
      deviceProblems(
        device([
          { name: "target", value: "21" },
          { name: "ratio", value: "0.5" },
          { name: "on", value: "true" },
          { name: "temperature" },
          { name: "label", value: "anything" },
        ]),
        model,
      ),
    ).toEqual([]);
  });

  it("names the property and the reason for wrong types, ranges, ReadOnly and unknown properties", () => {
    expect(
      deviceProblems(
        device([
          { name: "target", value: "21.5" },
          { name: "ratio", value: "2" },
          { name: "on", value: "yes" },
          { name: "temperature", value: "20" },
          { name: "humidity", value: "1" },
        ]),
        model,
      ),
    ).toEqual([
      'property target: desired value "21.5" is not an INT',
      "property ratio: desired value 2 is above the maximum 1.5",
      'property on: desired value "yes" is not a BOOLEAN (true or false)',
      "property temperature: ReadOnly in model thermo, so it cannot have a desired value",
      "property humidity: not defined by device model thermo",
    ]);
    expect(deviceProblems(device([{ name: "target", value: "5" }]), model)).toEqual([
      "property target: desired value 5 is below the minimum 10",
    ]);
  });

  it("refuses a device whose model does not exist", () => {
    expect(deviceProblems(device([]), undefined)).toEqual([
      'device model "thermo" does not exist in this namespace',
    ]);
  });
});
