import { describe, expect, it } from "vitest";
import { parseDurationSeconds } from "./duration.js";

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
