import { describe, expect, it } from "vitest";
import { linuxResources, parseQuantity, QuantityError } from "./quantity.js";

describe("quantities", () => {
  it("parse decimal, binary and exponent forms", () => {
    expect(parseQuantity("500m")).toBeCloseTo(0.5);
    expect(parseQuantity("2")).toBe(2);
    expect(parseQuantity("128Mi")).toBe(128 * 2 ** 20);
    expect(parseQuantity("1G")).toBe(1e9);
    expect(parseQuantity("2e3")).toBe(2000);
    expect(parseQuantity(".5")).toBe(0.5);
  });

  it("name the field of a quantity that does not parse", () => {
    expect(() => parseQuantity("12 apples", "containers.0.resources.limits.cpu")).toThrow(QuantityError);
    expect(() => parseQuantity("1.2.3", "limits.memory")).toThrow(/limits.memory: "1.2.3"/);
  });
});

describe("linuxResources", () => {
  it("turns a CPU limit into a CFS quota and a request into shares, as the kubelet does", () => {
    expect(linuxResources({ limits: { cpu: "250m", memory: "64Mi" }, requests: { cpu: "100m" } })).toEqual({
      cpuPeriod: 100_000,
      cpuQuota: 25_000,
      cpuShares: 102,
      memoryLimitInBytes: 64 * 2 ** 20,
    });
  });

  it("leaves an unlimited container unlimited, with the minimum shares", () => {
    expect(linuxResources({})).toEqual({ cpuPeriod: 0, cpuQuota: 0, cpuShares: 2, memoryLimitInBytes: 0 });
  });

  it("uses the limit as the request when only a limit is given", () => {
    expect(linuxResources({ limits: { cpu: "1" } }).cpuShares).toBe(1024);
  });
});
