import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.js";

describe("backoffDelay", () => {
  const options = { initialMs: 500, maxMs: 30_000 };

  it("caps grow exponentially from the initial delay up to the maximum", () => {
    const atMax = (attempt: number): number => backoffDelay(attempt, options, () => 0.999999);
    expect(atMax(0)).toBe(499);
    expect(atMax(1)).toBe(999);
    expect(atMax(3)).toBe(3999);
    expect(atMax(10)).toBe(29_999);
    expect(atMax(1000)).toBe(29_999);
  });

  it("is fully jittered: anywhere from zero to the cap", () => {
    expect(backoffDelay(5, options, () => 0)).toBe(0);
    const samples = Array.from({ length: 200 }, () => backoffDelay(5, options));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...samples)).toBeLessThan(16_000);
    expect(new Set(samples).size).toBeGreaterThan(100);
  });
});
