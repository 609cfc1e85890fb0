import { describe, expect, it } from "vitest";
import type { StoreEvent } from "./meta-store.js";
import { WatchHistory } from "./watch-history.js";

const event = (revision: number): StoreEvent => ({
  type: "MODIFIED",
  object: {
    resource: "ns/pod/p",
    namespace: "ns",
    type: "pod",
    name: "p",
    revision,
    cloudResourceVersion: undefined,
    object: {},
  },
});

describe("WatchHistory", () => {
  it("returns the events after a revision", () => {
    const h = new WatchHistory(5);
    for (const r of [6, 7, 8]) h.record(event(r));
    expect(h.since(6)?.map((e) => e.object.revision)).toEqual([7, 8]);
    expect(h.since(5)?.length).toBe(3);
    expect(h.since(8)).toEqual([]);
  });

  it("answers undefined (410 Gone) for revisions older than what it keeps", () => {
    const h = new WatchHistory(0, 2);
    for (const r of [1, 2, 3, 4]) h.record(event(r));
    expect(h.since(1)).toBeUndefined();
    expect(h.since(2)?.map((e) => e.object.revision)).toEqual([3, 4]);
  });

  it("does not reach back before the revision it started at (a restarted edgecore)", () => {
    expect(new WatchHistory(100).since(99)).toBeUndefined();
  });
});
