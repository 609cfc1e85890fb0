import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startRedis, type RedisServer } from "../../scripts/env/redis.js";
import { ClusterKeys } from "./keys.js";
import {
  FencedError,
  NodeOwnership,
  OwnershipUnavailableError,
  type OwnershipChange,
} from "./node-ownership.js";
import { ReplicaRegistry } from "./replica-registry.js";

const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

/** One replica's ownership stack on its own Redis connections. */
class Replica {
  readonly redis: Redis;
  readonly subscriber: Redis;
  readonly registry: ReplicaRegistry;
  readonly ownership: NodeOwnership;
  readonly handoverRequests: string[] = [];
  readonly lost: string[] = [];
  /** What onChange reported (the edgefleet_ownership_changes_total increments). */
  readonly changes: OwnershipChange[] = [];

  constructor(
    readonly id: string,
    url: string,
    keys: ClusterKeys,
    options: { livenessTtlMs?: number; handoverTimeoutMs?: number; answerHandover?: boolean } = {},
  ) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1 });
    this.subscriber = new Redis(url, { lazyConnect: true });
    this.registry = new ReplicaRegistry({
      redis: this.redis,
      keys,
      self: () => ({ id, address: "127.0.0.1", connected: 0, messagesPerSecond: 0, startedAt: 0 }),
      ttlMs: options.livenessTtlMs ?? 6000,
      log,
    });
    this.ownership = new NodeOwnership({
      redis: this.redis,
      subscriber: this.subscriber,
      keys,
      replicaId: id,
      ttlMs: 15_000,
      renewIntervalMs: 200,
      handoverTimeoutMs: options.handoverTimeoutMs ?? 3000,
      isReplicaAlive: (other) => this.registry.isAlive(other),
      log,
      onChange: (change) => this.changes.push(change),
    });
    this.ownership.setEvents({
      onHandoverRequest: (node) => {
        this.handoverRequests.push(node);
        // A real replica closes the node's tunnel first; here there is none.
        if (options.answerHandover !== false) void this.ownership.release(node);
      },
      onLost: (node) => this.lost.push(node),
    });
  }

  async start(): Promise<this> {
    await this.subscriber.connect();
    await this.registry.start();
    await this.ownership.start();
    return this;
  }

  async stop(): Promise<void> {
    await this.ownership.stop();
    await this.registry.stop();
    this.redis.disconnect();
    this.subscriber.disconnect();
  }

  /** As if killed: no renewal, no release, the liveness key is left to expire. */
  kill(): void {
    this.ownership.abandon();
    this.redis.disconnect();
    this.subscriber.disconnect();
  }
}

describe("node ownership on a real Redis", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-own-"));
  let redis: RedisServer;
  let n = 0;
  const replicas: Replica[] = [];
  const keys = (): ClusterKeys => new ClusterKeys(`own-test-${n}:`);
  const replica = async (
    id: string,
    k: ClusterKeys,
    options?: ConstructorParameters<typeof Replica>[3],
  ): Promise<Replica> => {
    const r = await new Replica(id, redis.url, k, options).start();
    replicas.push(r);
    return r;
  };

  beforeAll(async () => {
    redis = await startRedis(join(dir, "redis"));
  });
  afterEach(async () => {
    n++;
    await Promise.allSettled(replicas.splice(0).map((r) => r.stop()));
  });
  afterAll(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("two replicas racing for one node: exactly one wins, and the loser's writes are fenced", async () => {
    const k = keys();
    // Neither answers handover requests, so the race cannot be resolved by handing over.
    const a = await replica("a", k, { answerHandover: false, handoverTimeoutMs: 500 });
    const b = await replica("b", k, { answerHandover: false, handoverTimeoutMs: 500 });
    const results = await Promise.allSettled([a.ownership.acquire("edge-1"), b.ownership.acquire("edge-1")]);
    const won = results.filter((r) => r.status === "fulfilled");
    expect(won).toHaveLength(1);
    const lost = results.find((r) => r.status === "rejected");
    expect((lost as PromiseRejectedResult).reason).toBeInstanceOf(OwnershipUnavailableError);
    const [winner, loser] = results[0]?.status === "fulfilled" ? [a, b] : [b, a];
    await expect(winner.ownership.assertCurrent("edge-1")).resolves.toBe(1);
    await expect(loser.ownership.assertCurrent("edge-1")).rejects.toBeInstanceOf(FencedError);
  });

  it("hands a node over on request: the new owner gets a higher epoch and the old owner's writes are refused", async () => {
    const k = keys();
    const a = await replica("a", k, { answerHandover: false });
    const b = await replica("b", k);
    const first = await a.ownership.acquire("edge-2");
    // a is asked and (this time) answers by releasing.
    a.ownership.setEvents({ onHandoverRequest: (node) => void a.ownership.release(node) });
    const second = await b.ownership.acquire("edge-2");
    expect(second).toBe(first + 1);
    await expect(a.ownership.assertCurrent("edge-2")).rejects.toBeInstanceOf(FencedError);
    await expect(b.ownership.assertCurrent("edge-2")).resolves.toBe(second);
    expect(a.changes).toEqual(["claimed", "released"]);
    expect(b.changes).toEqual(["handed_over"]);
  });

  it("takes a node from a dead replica as soon as its liveness key expires, long before the lock TTL", async () => {
    const k = keys();
    const a = await replica("a", k, { livenessTtlMs: 600 });
    const b = await replica("b", k);
    await a.ownership.acquire("edge-3");
    a.kill();
    const started = Date.now();
    const epoch = await b.ownership.acquire("edge-3");
    expect(epoch).toBe(2);
    expect(Date.now() - started).toBeLessThan(5000); // lock TTL is 15 s
    expect(b.changes).toEqual(["taken_over"]);
  });

  it("a stale owner that wakes up finds the node lost on its next renewal", async () => {
    const k = keys();
    const a = await replica("a", k);
    const b = await replica("b", k);
    await a.ownership.acquire("edge-4");
    // a "freezes": b clears a's lock as if a were dead, and owns the node.
    const token = (await b.redis.get(k.lock("edge-4"))) ?? "";
    await b.redis.del(k.lock("edge-4"), k.owner("edge-4"));
    expect(token).not.toBe("");
    await b.ownership.acquire("edge-4");
    await a.ownership.renewAll();
    expect(a.lost).toEqual(["edge-4"]);
    expect(a.ownership.owned().has("edge-4")).toBe(false);
    expect(a.changes).toEqual(["claimed", "lost"]);
    expect(a.ownership.ownedCount).toBe(0);
  });

  it("adopts a node left without owner, but only once it stayed ownerless longer than a renewal", async () => {
    const k = keys();
    const a = await replica("a", k);
    const b = await replica("b", k);
    await a.ownership.acquire("edge-6");
    const epoch = a.ownership.epochOf("edge-6") ?? 0;
    await a.ownership.release("edge-6"); // its edge is offline and a shut down
    expect(await b.ownership.adoptOrphans(["edge-6"])).toEqual([]); // first look
    await new Promise((r) => setTimeout(r, 300));
    expect(await b.ownership.adoptOrphans(["edge-6"])).toEqual(["edge-6"]);
    expect(b.ownership.epochOf("edge-6")).toBe(epoch + 1);
    expect(b.changes).toEqual(["adopted"]);
    expect(b.ownership.ownedCount).toBe(1);
  });

  it("after Redis lost its keys, live owners restore them before anyone adopts their nodes", async () => {
    const k = keys();
    const a = await replica("a", k);
    const b = await replica("b", k);
    await a.ownership.acquire("edge-7");
    await a.redis.flushall(); // as a restart without persistence leaves it
    expect(await b.ownership.adoptOrphans(["edge-7"])).toEqual([]);
    await new Promise((r) => setTimeout(r, 300)); // a renews every 200 ms
    expect(await b.ownership.adoptOrphans(["edge-7"])).toEqual([]);
    expect(a.ownership.owns("edge-7")).toBe(true);
    expect(a.lost).toEqual([]);
    expect((await a.redis.get(k.owner("edge-7")))?.split(" ")[0]).toBe("a");
  });

  it("a fence check after Redis lost its keys puts them back instead of dropping the node", async () => {
    const k = keys();
    const a = await replica("a", k);
    const epoch = await a.ownership.acquire("edge-8");
    await a.redis.flushall();
    await expect(a.ownership.assertCurrent("edge-8")).resolves.toBe(epoch);
    expect(a.lost).toEqual([]);
    expect(await a.redis.get(k.epoch("edge-8"))).toBe(String(epoch));
  });

  it("Redis restart: owners keep their nodes, re-establish the keys, epochs never go backwards", async () => {
    const k = keys();
    const a = await replica("a", k, { answerHandover: false });
    const b = await replica("b", k, { handoverTimeoutMs: 500, answerHandover: false });
    await a.ownership.acquire("edge-5");
    await a.ownership.acquire("edge-5b");
    const epoch = a.ownership.epochOf("edge-5") ?? 0;
    const port = redis.port;
    await redis.stop();
    redis = await startRedis(join(dir, "redis"), port);
    // ioredis reconnects by itself; the next renewals put the keys back.
    await new Promise((r) => setTimeout(r, 1500));
    await a.registry.publish();
    expect(a.lost).toEqual([]);
    expect(await a.redis.get(k.epoch("edge-5"))).toBe(String(epoch));
    await expect(a.ownership.assertCurrent("edge-5")).resolves.toBe(epoch);
    // Nobody can grab it in between: b is refused (a is alive and does not hand over).
    await expect(b.ownership.acquire("edge-5")).rejects.toBeInstanceOf(OwnershipUnavailableError);
  });
});
