import { Redis } from "ioredis";
import { afterAll, describe, expect, inject, it } from "vitest";
import { RedisAckStore } from "./redis-ack-store.js";

const env = inject("env");

describe("RedisAckStore on the real Redis", () => {
  const redis = new Redis(env.redis?.url ?? "");
  const store = new RedisAckStore(redis, `edgefleet-test-${process.pid}:acked:`);
  afterAll(async () => {
    await store.forgetNode("n1");
    await redis.quit();
  });

  it("records, loads, forgets per node, and survives a new client (another replica or a restart)", async () => {
    await store.record("n1", "ns/pod/a", { resourceVersion: "10", uid: "u-a", digest: "d" });
    await store.record("n1", "ns/configmap/c", { resourceVersion: "11" });
    await store.forget("n1", "ns/configmap/c");
    const other = new Redis(env.redis?.url ?? "");
    try {
      const loaded = await new RedisAckStore(other, `edgefleet-test-${process.pid}:acked:`).load("n1");
      expect([...loaded]).toEqual([["ns/pod/a", { resourceVersion: "10", uid: "u-a", digest: "d" }]]);
    } finally {
      await other.quit();
    }
    expect((await store.load("n2")).size).toBe(0);
  });

  it("treats a corrupt record as not acked instead of failing the load", async () => {
    await redis.hset(store.keyOf("n1"), "ns/pod/bad", "{not json");
    const loaded = await store.load("n1");
    expect(loaded.has("ns/pod/bad")).toBe(false);
    expect(loaded.has("ns/pod/a")).toBe(true);
  });
});
