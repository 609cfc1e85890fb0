import { describe, expect, it } from "vitest";
import { parseDurationMs, parseDurationSeconds } from "./duration.js";

describe("parseDurationSeconds", () => {
  it("parses single and combined units", () => {
    expect(parseDurationSeconds("90s")).toBe(90);
    expect(parseDurationSeconds("24h")).toBe(86400);
    expect(parseDurationSeconds("1h30m")).toBe(5400);
    expect(parseDurationSeconds("7d")).toBe(604800);
  });

  it("rejects empty, unitless, negative, zero and fractional durations with the offending text", () => {
    for (const bad of ["", "10", "-5m", "0s", "1.5h", "5 m", "5y"]) {
      expect(() => parseDurationSeconds(bad), bad).toThrow(JSON.stringify(bad));
    }
  });
});

describe("parseDurationMs", () => {
  it("parses milliseconds, fractions and combined units, and zero", () => {
    expect(parseDurationMs("250ms")).toBe(250);
    expect(parseDurationMs("1.5s")).toBe(1500);
    expect(parseDurationMs("2m30s")).toBe(150_000);
    expect(parseDurationMs("1m5ms")).toBe(60_005);
    expect(parseDurationMs("0")).toBe(0);
  });

  it("rejects unitless, negative and malformed durations with the offending text", () => {
    for (const bad of ["", "10", "-5ms", "1.s", "5 s", "5y", "ms"]) {
      expect(() => parseDurationMs(bad), bad).toThrow(JSON.stringify(bad));
    }
  });
});
