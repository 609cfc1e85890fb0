import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import type { Cluster } from "ioredis";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from "vitest";
import { joinCloud, type NodeCredentials } from "../../edgecore/hub/join.js";
import { startRedisCluster, type RedisClusterServers } from "../../scripts/env/redis-cluster.js";
import { withRedis } from "../../scripts/env/redis-probe.js";
import { TestEdge } from "../../test/edge-agent.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { until, untilValue } from "../../test/until.js";
import type { Cloudcore } from "../cloudcore.js";
import { KubeRest } from "../kube/kube-rest.js";
import type { NodeJson } from "../kube/objects.js";
import { ClusterKeys } from "./keys.js";
import { NodeOwnership } from "./node-ownership.js";
import { getMany, type RedisClient } from "./redis-client.js";
import { RedisEndpoint } from "./redis-endpoint.js";
import { ReplicaRegistry } from "./replica-registry.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

/** One replica's ownership stack on its own Cluster clients. */
class Replica {
  readonly redis: RedisClient;
  readonly subscriber: RedisClient;
  readonly registry: ReplicaRegistry;
  readonly ownership: NodeOwnership;

  constructor(
    readonly id: string,
    endpoint: RedisEndpoint,
    keys: ClusterKeys,
  ) {
    this.redis = endpoint.client({ maxRetriesPerRequest: 1 });
    this.subscriber = endpoint.subscriber();
    this.registry = new ReplicaRegistry({
      redis: this.redis,
      keys,
      self: () => ({ id, address: "127.0.0.1", connected: 0, messagesPerSecond: 0, startedAt: 0 }),
      ttlMs: 600,
      log,
    });
    this.ownership = new NodeOwnership({
      redis: this.redis,
      subscriber: this.subscriber,
      keys,
      replicaId: id,
      ttlMs: 15_000,
      renewIntervalMs: 200,
      handoverTimeoutMs: 3000,
      isReplicaAlive: (other) => this.registry.isAlive(other),
      log,
    });
    this.ownership.setEvents({ onHandoverRequest: (node) => void this.ownership.release(node) });
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
    this.registry.abandon();
    this.redis.disconnect();
    this.subscriber.disconnect();
  }
}

describe("node ownership on a 3-master Redis Cluster", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-rc-"));
  let servers: RedisClusterServers;
  let endpoint: RedisEndpoint;
  let probe: Cluster;
  const running: Replica[] = [];

  const replica = async (id: string, keys: ClusterKeys): Promise<Replica> => {
    const r = await new Replica(id, endpoint, keys).start();
    running.push(r);
    return r;
  };
  /** Names whose lock keys land on every master, `perMaster` on each. */
  const spreadNames = async (keys: ClusterKeys, perMaster: number): Promise<string[]> => {
    const byMaster = new Map<number, string[]>(servers.masters.map((m) => [m.port, []]));
    for (let i = 0; [...byMaster.values()].some((l) => l.length < perMaster); i++) {
      const name = `edge-rc-${i}`;
      const slot = Number(await probe.cluster("KEYSLOT", keys.lock(name)));
      const list = byMaster.get(servers.masterOf(slot).port) ?? [];
      if (list.length < perMaster) list.push(name);
    }
    return [...byMaster.values()].flat();
  };

  beforeAll(async () => {
    servers = await startRedisCluster({ dir: join(dir, "cluster") });
    endpoint = RedisEndpoint.parse(servers.url);
    probe = endpoint.client() as Cluster;
  }, 60_000);
  afterEach(async () => {
    await Promise.allSettled(running.splice(0).map((r) => r.stop()));
  });
  afterAll(async () => {
    probe.disconnect();
    await servers.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("owns, renews, lists, adopts and releases nodes whose keys are on different masters; takes a dead replica's nodes", async () => {
    const keys = new ClusterKeys(`rc-own-${randomBytes(3).toString("hex")}:`);
    const names = await spreadNames(keys, 3);
    expect(names).toHaveLength(9);
    const a = await replica("a", keys);
    const b = await replica("b", keys);
    for (const n of names) await expect(a.ownership.acquire(n)).resolves.toBe(1);
    // Every master holds some of the owner records.
    for (const m of servers.masters)
      expect(await withRedis(m.port, undefined, (c) => c.dbsize())).toBeGreaterThan(0);

    // One renewal pass reaches every shard: shortened TTLs are back to the full 15 s.
    for (const n of names) await probe.pexpire(keys.lock(n), 1000);
    await a.ownership.renewAll();
    for (const n of names) expect(await probe.pttl(keys.lock(n))).toBeGreaterThan(10_000);
    expect(a.ownership.owned().size).toBe(names.length);

    // The liveness keys of both replicas are read across slots.
    expect((await b.registry.list()).map((r) => r.id).sort()).toEqual(["a", "b"]);

    // Released by a (e.g. while offline), adopted by b on its second look.
    const released = names.slice(0, 3);
    for (const n of released) await a.ownership.release(n);
    expect(
      await getMany(
        probe,
        released.map((n) => keys.owner(n)),
      ),
    ).toEqual([null, null, null]);
    expect(await b.ownership.adoptOrphans(names)).toEqual([]);
    await new Promise((r) => setTimeout(r, 250));
    expect((await b.ownership.adoptOrphans(names)).sort()).toEqual([...released].sort());
    for (const n of released) expect(await probe.get(keys.owner(n))).toMatch(/^b 2 /);

    // A handover request reaches a over the Cluster's pub/sub.
    const asked = names[3] ?? "";
    await expect(b.ownership.acquire(asked)).resolves.toBe(2);
    expect(a.ownership.owns(asked)).toBe(false);

    // a dies: once its liveness key is gone, b takes the rest at once (lock TTL is 15 s).
    const rest = names.slice(4);
    a.kill();
    running.splice(running.indexOf(a), 1);
    const killedAt = Date.now();
    for (const n of rest) await expect(b.ownership.acquire(n)).resolves.toBe(2);
    expect(Date.now() - killedAt).toBeLessThan(5000);
    expect(b.ownership.owned().size).toBe(names.length);

    // A graceful stop releases everything, on every shard.
    await b.stop();
    running.splice(running.indexOf(b), 1);
    expect(
      await getMany(
        probe,
        names.map((n) => keys.owner(n)),
      ),
    ).toEqual(names.map(() => null));
    expect(
      await getMany(
        probe,
        names.map((n) => keys.epoch(n)),
      ),
    ).toEqual(names.map(() => "2"));
  }, 60_000);

  describe("two cloudcore replicas", () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
    const suffix = randomBytes(3).toString("hex");
    const label = `rc-${suffix}`;
    const replicas = new Map<"a" | "b", Cloudcore>();
    const edges: TestEdge[] = [];
    const credentials = new Map<string, NodeCredentials>();
    let rest: KubeRest;

    const start = async (id: "a" | "b"): Promise<Cloudcore> => {
      const r = await startTestCloudcore(kc, servers.url, {
        edgeNodeSelector: `edgefleet.io/test=${label}`,
        keepaliveTimeoutMs: 3000,
        offlineGraceMs: 5000,
        leaseRenewIntervalMs: 1000,
        cluster: {
          replicaId: `${suffix}-${id}`,
          livenessTtlMs: 1500,
          handoverTimeoutMs: 3000,
          adoptIntervalMs: 500,
          rebalanceIntervalMs: 0,
        },
        logger: log.child({ replica: id }),
      });
      replicas.set(id, r);
      return r;
    };
    const edgeVia = async (name: string, replica: Cloudcore): Promise<TestEdge> => {
      let creds = credentials.get(name);
      if (!creds) {
        const { token } = await replica.tokens.create({ ttlSeconds: 600, description: "redis-cluster" });
        creds = await joinCloud({
          server: `127.0.0.1:${replica.certificates.port}`,
          token,
          nodeName: name,
          certDir: join(dir, name),
        });
        credentials.set(name, creds);
      }
      const edge = new TestEdge(name, `127.0.0.1:${replica.hub.port}`, creds, log, {
        labels: { "edgefleet.io/test": label },
      });
      edges.push(edge);
      await edge.start();
      return edge;
    };

    beforeAll(async () => {
      rest = await KubeRest.create(kc);
      await start("a");
      await start("b");
    }, 60_000);
    afterAll(async () => {
      await Promise.all(edges.map((e) => e.close()));
      for (const r of replicas.values()) await r.close();
      for (const name of credentials.keys())
        await rest.request("delete", `/api/v1/nodes/${name}`).catch(() => undefined);
      rest.close();
    });

    it("serve nodes whose keys are on different masters; a crashed replica's node is taken over", async () => {
      const a = replicas.get("a") as Cloudcore;
      const b = replicas.get("b") as Cloudcore;
      const keys = new ClusterKeys();
      // Two nodes on different masters.
      const slotOf = async (n: string): Promise<number> =>
        Number(await probe.cluster("KEYSLOT", keys.lock(n)));
      const names: string[] = [];
      for (let i = 0; names.length < 2; i++) {
        const name = `edge-rc-${i}-${suffix}`;
        const master = servers.masterOf(await slotOf(name)).port;
        if (names.length === 0 || servers.masterOf(await slotOf(names[0] ?? "")).port !== master)
          names.push(name);
      }
      const [nodeA = "", nodeB = ""] = names;
      await (await edgeVia(nodeA, a)).register();
      const edgeB = await edgeVia(nodeB, b);
      await edgeB.register();
      await until(
        "each replica owns its node",
        () => a.ownership.owns(nodeA) && b.ownership.owns(nodeB),
        10_000,
      );
      expect(await probe.get(keys.owner(nodeA))).toMatch(new RegExp(`^${suffix}-a 1 `));
      expect(await probe.get(keys.owner(nodeB))).toMatch(new RegExp(`^${suffix}-b 1 `));
      // Fenced writes and the renewal loop keep working across shards.
      await new Promise((r) => setTimeout(r, 600));
      await expect(a.ownership.assertCurrent(nodeA)).resolves.toBe(1);
      const lease = await edgeB.renewLease();
      expect((lease.content as { Err: unknown }).Err).toBeNull();

      // a crashes; its edge comes back through b, which takes the node over without a handover.
      await a.crash();
      replicas.delete("a");
      const moved = await edgeVia(nodeA, b);
      await until("b took a's node over", () => b.ownership.owns(nodeA), 15_000);
      expect(b.cluster?.nodes.epochOf(nodeA)).toBe(2);
      await moved.register();
      await untilValue("Node annotated with b's epoch", 10_000, async () => {
        const n = await rest.get<NodeJson>(`/api/v1/nodes/${nodeA}`);
        return n.metadata?.annotations?.["edgefleet.io/owner-epoch"] === "2" ? n : undefined;
      });
      expect(await probe.get(keys.owner(nodeA))).toMatch(new RegExp(`^${suffix}-b 2 `));
    }, 60_000);
  });
});
