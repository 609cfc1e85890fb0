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

  it("is rate limited per round", () => {
    expect(plan("a", { a: 3000, b: 0 }, 50)).toBe(50);
  });
});
