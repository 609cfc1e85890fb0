import { describe, expect, it } from "vitest";
import { renewLease, patchPodStatus } from "../../edgecore/upstream/requests.js";
import { responseTo } from "../../protocol/message.js";
import { LeaseCoalescer, repliesForBatch } from "./lease-coalescer.js";

describe("LeaseCoalescer", () => {
  it("recognises Lease renewals and nothing else", () => {
    expect(LeaseCoalescer.isRenewal(renewLease("n1"))).toBe(true);
    expect(LeaseCoalescer.isRenewal(patchPodStatus("ns", "p", {}))).toBe(false);
  });

  it("queues the first renewal of a node and lets later ones join it until it is taken", () => {
    const coalescer = new LeaseCoalescer();
    const [a, b, c] = [renewLease("n1"), renewLease("n1"), renewLease("n1")];
    expect(coalescer.offer("n1", a)).toBe(false); // caller queues a write
    expect(coalescer.offer("n1", b)).toBe(true); // joined
    expect(coalescer.offer("n2", renewLease("n2"))).toBe(false); // other nodes are independent
    expect(coalescer.offer("n1", c)).toBe(true);
    expect(coalescer.size).toBe(4);
    expect(coalescer.take("n1")).toEqual([a, b, c]);
    // Taken: the next renewal starts a new batch (a write is queued again).
    expect(coalescer.offer("n1", renewLease("n1"))).toBe(false);
    expect(coalescer.take("missing")).toEqual([]);
  });

  it("answers every request of a batch with the newest one's reply, each addressed to its own request", () => {
    const batch = [renewLease("n1"), renewLease("n1"), renewLease("n1")];
    const newest = batch[2];
    if (!newest) throw new Error("unreachable");
    const reply = responseTo(newest, { Object: { spec: {} }, Err: null });
    const replies = repliesForBatch(batch, reply);
    expect(replies.map((r) => r.header.parent_msg_id)).toEqual(batch.map((m) => m.header.msg_id));
    expect(replies[2]).toBe(reply);
    expect(new Set(replies.map((r) => r.header.msg_id)).size).toBe(3);
    for (const r of replies) expect(r.content).toEqual(reply.content);
  });
});
