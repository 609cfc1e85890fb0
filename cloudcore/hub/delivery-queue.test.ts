import { describe, expect, it } from "vitest";
import { newMessage, type Message } from "../../protocol/message.js";
import { DeliveryQueue } from "./delivery-queue.js";

let clock = 0;
const queue = (maxInFlight = 10): DeliveryQueue => new DeliveryQueue({ maxInFlight, now: () => clock });
const msg = (resource: string, rv: string, operation = "update"): Message =>
  newMessage({ source: "edgecontroller", group: "resource", operation, resource, resourceVersion: rv });
const rvs = (messages: Message[]): string[] =>
  messages.map((m) => `${m.route.resource}@${m.header.resourceversion}`);

describe("delivery queue", () => {
  it("sends one message per object at a time, in arrival order across objects", () => {
    const q = queue();
    q.enqueue("a", msg("a", "1"));
    q.enqueue("b", msg("b", "2"));
    const first = q.takeSendable();
    expect(rvs(first)).toEqual(["a@1", "b@2"]);
    q.enqueue("a", msg("a", "3"));
    expect(q.takeSendable()).toEqual([]); // a@1 still in flight
    q.ack(first[0]?.header.msg_id ?? "");
    expect(rvs(q.takeSendable())).toEqual(["a@3"]);
  });

  it("a newer waiting version replaces an older one; older or equal versions are dropped", () => {
    const q = queue();
    q.enqueue("a", msg("a", "5"));
    q.enqueue("a", msg("a", "7"));
    q.enqueue("a", msg("a", "6"));
    expect(rvs(q.takeSendable())).toEqual(["a@7"]);
    q.enqueue("a", msg("a", "7"));
    expect(q.waiting).toBe(0);
  });

  it("skips versions the node already acked, but never skips a delete", () => {
    const q = queue();
    q.enqueue("a", msg("a", "5"), "5");
    q.enqueue("b", msg("b", "4"), "9");
    q.enqueue("c", msg("c", "9", "delete"), "9");
    expect(rvs(q.takeSendable())).toEqual(["c@9"]);
  });

  it("respects the in-flight window", () => {
    const q = queue(2);
    for (const k of ["a", "b", "c"]) q.enqueue(k, msg(k, "1"));
    expect(q.takeSendable()).toHaveLength(2);
    expect(q.takeSendable()).toHaveLength(0);
  });

  it("after a disconnect, in-flight messages go first and a newer version supersedes its in-flight one", () => {
    const q = queue();
    q.enqueue("a", msg("a", "1"));
    q.enqueue("b", msg("b", "1"));
    q.takeSendable();
    q.enqueue("c", msg("c", "1"));
    q.enqueue("b", msg("b", "2"));
    q.requeueInFlight();
    expect(rvs(q.takeSendable())).toEqual(["a@1", "b@2", "c@1"]);
  });

  it("overdue - messages unacked past the timeout are returned for resending with their ids", () => {
    clock = 1000;
    const q = queue();
    q.enqueue("a", msg("a", "1"));
    const [sent] = q.takeSendable();
    clock = 3000;
    expect(q.overdue(5000)).toEqual([]);
    clock = 6000;
    expect(q.overdue(5000).map((m) => m.header.msg_id)).toEqual([sent?.header.msg_id]);
    expect(q.overdue(5000)).toEqual([]);
  });

  it("an unknown or repeated ack is ignored", () => {
    const q = queue();
    q.enqueue("a", msg("a", "1"));
    const [sent] = q.takeSendable();
    expect(q.ack("nope")).toBeUndefined();
    expect(q.ack(sent?.header.msg_id ?? "")?.key).toBe("a");
    expect(q.ack(sent?.header.msg_id ?? "")).toBeUndefined();
  });

  it("drops a newer version whose content digest equals the one already on its way (a status-only change)", () => {
    const q = queue();
    q.enqueue("a", msg("a", "5"), undefined, { uid: "u", digest: "d1" });
    const [sent] = q.takeSendable();
    q.enqueue("a", msg("a", "6"), undefined, { uid: "u", digest: "d1" });
    expect(q.waiting).toBe(0);
    q.enqueue("a", msg("a", "7"), undefined, { uid: "u", digest: "d2" });
    expect(q.waiting).toBe(1);
    expect(q.ack(sent?.header.msg_id ?? "")?.meta).toEqual({ uid: "u", digest: "d1" });
    expect(rvs(q.takeSendable())).toEqual(["a@7"]);
  });

  it("reports the age of the oldest unacked change as lag, keeping it when a newer version replaces the change", () => {
    clock = 1000;
    const q = queue();
    expect(q.lagMs()).toBe(0);
    q.enqueue("a", msg("a", "1"));
    const [sent] = q.takeSendable();
    clock = 1500;
    q.enqueue("a", msg("a", "2"));
    clock = 3000;
    expect(q.lagMs()).toBe(2000);
    q.ack(sent?.header.msg_id ?? "");
    expect(q.lagMs()).toBe(2000);
    const [next] = q.takeSendable();
    q.ack(next?.header.msg_id ?? "");
    expect(q.lagMs()).toBe(0);
  });
});
