import { describe, expect, it } from "vitest";
import { StallGuard } from "./stall-guard.js";

describe("StallGuard", () => {
  it("passes ticks that come on time or a little late", () => {
    const guard = new StallGuard(1000, 0);
    expect(guard.tick(1000)).toBe(0);
    expect(guard.tick(2900)).toBe(0); // 900 ms late: within one interval
  });

  it("reports a tick that came more than an interval late, then measures from it", () => {
    const guard = new StallGuard(1000, 0);
    expect(guard.tick(12_000)).toBe(11_000);
    expect(guard.tick(13_000)).toBe(0);
  });
});
