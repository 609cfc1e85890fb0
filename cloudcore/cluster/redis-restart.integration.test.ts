import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { joinCloud } from "../../edgecore/hub/join.js";
import { Operation } from "../../protocol/constants.js";
import { startRedis, type RedisServer } from "../../scripts/env/redis.js";
import { boundPod } from "../../test/bound-pod.js";
import { TestEdge } from "../../test/edge-agent.js";
import { until, untilValue } from "../../test/until.js";
import type { Cloudcore } from "../cloudcore.js";
import { KubeRest } from "../kube/kube-rest.js";
import type { NodeJson } from "../kube/objects.js";
import { ClusterKeys } from "./keys.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { createPodNamespace } from "../../test/pod-namespace.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

/**
 * Two full cloudcore replicas on a Redis of their own, which is stopped and started again with all
 * its data gone (no persistence: the worst case).
 */
describe("cloudcore replicas across a Redis restart", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `rr-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-rr-"));
  const keys = new ClusterKeys();
  const replicas: Record<"a" | "b", Cloudcore | undefined> = { a: undefined, b: undefined };
  const edges: TestEdge[] = [];
  let redisServer: RedisServer;
  let redis: Redis;
  let rest: KubeRest;

  const start = (id: "a" | "b"): Promise<Cloudcore> =>
    startTestCloudcore(kc, redisServer.url, {
      edgeNodeSelector: `edgefleet.io/test=${namespace}`,
      keepaliveTimeoutMs: 3000,
      offlineGraceMs: 5000,
      leaseRenewIntervalMs: 1000,
      cluster: {
        replicaId: `${suffix}-${id}`,
        livenessTtlMs: 1500,
        handoverTimeoutMs: 3000,
        adoptIntervalMs: 500,
        rebalanceIntervalMs: 0,
        tunnelPortBase: 30000 + Math.floor(Math.random() * 20000),
      },
      logger: log.child({ replica: id }),
    });

  beforeAll(async () => {
    redisServer = await startRedis(join(dir, "redis"));
    redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
    redis.on("error", () => undefined); // the restart below; the test reads through retries
    rest = await KubeRest.create(kc);
    replicas.a = await start("a");
    replicas.b = await start("b");
    await createPodNamespace(rest, namespace);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(edges.map((e) => e.close()));
    for (const r of Object.values(replicas)) await r?.close();
    for (const e of edges) await rest.request("delete", `/api/v1/nodes/${e.nodeName}`).catch(() => undefined);
    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rest.close();
    redis.disconnect();
    await redisServer.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("replicas keep serving their connected nodes, put their keys back, and no ownership flaps", async () => {
    const a = replicas.a as Cloudcore;
    const b = replicas.b as Cloudcore;
    const names = { a: `edge-rr-a-${suffix}`, b: `edge-rr-b-${suffix}` };
    for (const [id, replica] of [
      ["a", a],
      ["b", b],
    ] as const) {
      const { token } = await replica.tokens.create({ ttlSeconds: 600, description: "redis-restart" });
      const creds = await joinCloud({
        server: `127.0.0.1:${replica.certificates.port}`,
        token,
        nodeName: names[id],
        certDir: join(dir, names[id]),
      });
      const edge = new TestEdge(names[id], `127.0.0.1:${replica.hub.port}`, creds, log, {
        labels: { "edgefleet.io/test": namespace },
      });
      edges.push(edge);
      await edge.start();
      await edge.register();
    }
    const [edgeA, edgeB] = edges as [TestEdge, TestEdge];
    await until(
      "each replica owns its node",
      () => a.ownership.owns(names.a) && b.ownership.owns(names.b),
      10_000,
    );
    const epochs = { a: a.cluster?.nodes.epochOf(names.a), b: b.cluster?.nodes.epochOf(names.b) };
    const tunnelPorts = { a: a.cluster?.tunnelPorts.port, b: b.cluster?.tunnelPorts.port };

    // Watch for any flap: a tunnel that drops, or a node owned by anyone but its replica.
    const drops: string[] = [];
    for (const e of edges)
      e.hub.onStatus((s) => {
        if (s.type !== "connected") drops.push(`${e.nodeName}: ${s.type}`);
      });
    const flaps: string[] = [];
    const watch = setInterval(() => {
      if (!a.ownership.owns(names.a)) flaps.push(`a lost ${names.a}`);
      if (!b.ownership.owns(names.b)) flaps.push(`b lost ${names.b}`);
      if (a.ownership.owns(names.b)) flaps.push(`a took ${names.b}`);
      if (b.ownership.owns(names.a)) flaps.push(`b took ${names.a}`);
    }, 50);

    try {
      const port = redisServer.port;
      await redisServer.stop();
      // Longer than the liveness TTL: every replica's liveness key would have expired anyway.
      await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
        body: boundPod("during-outage", names.a),
      });
      await new Promise((r) => setTimeout(r, 2500));
      redisServer = await startRedis(join(dir, "redis"), port);

      // The keys come back: owner records with the same owners and epochs, liveness, tunnel ports.
      await untilValue("owner records restored", 15_000, async () => {
        const [ownerA, ownerB] = await redis.mget(keys.owner(names.a), keys.owner(names.b)).catch(() => []);
        return ownerA?.startsWith(`${suffix}-a `) && ownerB?.startsWith(`${suffix}-b `) ? true : undefined;
      });
      expect(await redis.get(keys.epoch(names.a))).toBe(String(epochs.a));
      expect(await redis.get(keys.epoch(names.b))).toBe(String(epochs.b));
      await untilValue("liveness keys restored", 10_000, async () =>
        (await redis.exists(keys.replica(`${suffix}-a`), keys.replica(`${suffix}-b`))) === 2
          ? true
          : undefined,
      );
      expect(a.cluster?.tunnelPorts.port).toBe(tunnelPorts.a);
      expect(b.cluster?.tunnelPorts.port).toBe(tunnelPorts.b);
      await untilValue("tunnel ports re-held", 15_000, async () =>
        (await redis.get(`edgefleet:tunnelport:${tunnelPorts.a}`)) === `${suffix}-a` &&
        (await redis.get(`edgefleet:tunnelport:${tunnelPorts.b}`)) === `${suffix}-b`
          ? true
          : undefined,
      );

      // Still served: the pod made during the outage arrives once, and fenced writes go through.
      await until(
        "pod created during the outage delivered",
        () => edgeA.pods().includes(`${namespace}/during-outage`),
        15_000,
      );
      const lease = await edgeB.renewLease();
      expect((lease.content as { Err: unknown }).Err).toBeNull();
      // Two adoption rounds and a renewal later, still nobody has moved.
      await new Promise((r) => setTimeout(r, 1500));
    } finally {
      clearInterval(watch);
    }
    expect(flaps).toEqual([]);
    expect(drops).toEqual([]);
    expect(a.cluster?.nodes.epochOf(names.a)).toBe(epochs.a);
    expect(b.cluster?.nodes.epochOf(names.b)).toBe(epochs.b);
    const deliveries = edgeA.received.filter((m) => (m.route.resource ?? "").endsWith("/pod/during-outage"));
    expect(deliveries.map((m) => m.route.operation)).toEqual([Operation.Insert]);
    for (const n of Object.values(names)) {
      const node = await rest.get<NodeJson>(`/api/v1/nodes/${n}`);
      expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    }
  }, 90_000);
});
