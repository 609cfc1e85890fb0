import { describe, expect, it } from "vitest";
import { nodesToShed } from "./rebalancer.js";

const plan = (self: string, counts: Record<string, number>, maxPerRound = 1000): number =>
  nodesToShed({
    self,
    replicas: Object.entries(counts).map(([id, connected]) => ({ id, connected })),
    tolerance: 0.1,
    maxPerRound,
  });

describe("nodesToShed", () => {
  it("sheds down to the even share when a replica joins", () => {
    // 3 → 4 replicas with 9,000 nodes: share 2,250.
    const counts = { a: 3000, b: 3000, c: 3000, d: 0 };
    expect(plan("a", counts)).toBe(750);
    expect(plan("d", counts)).toBe(0);
  });

  it("does nothing within ±10 % of even, or alone", () => {
    expect(plan("a", { a: 1080, b: 920 })).toBe(0);
    expect(plan("a", { a: 5000 })).toBe(0);
  });

  it("keeps shedding while the joining replica is below the tolerance, though none is above it", () => {
    // After some rate-limited rounds: nobody above 2,475 (share + 10 %), but d is under 2,025.
    const counts = { a: 2470, b: 2470, c: 2470, d: 1590 };
    expect(plan("a", counts, 50)).toBe(50);
    expect(plan("d", counts, 50)).toBe(0);
    // Once everyone is within ±10 % nobody sheds: no flapping around the share.
    expect(plan("a", { a: 2300, b: 2300, c: 2300, d: 2100 }, 50)).toBe(0);
  });

  it("is rate limited per round", () => {
    expect(plan("a", { a: 3000, b: 0 }, 50)).toBe(50);
  });
});
