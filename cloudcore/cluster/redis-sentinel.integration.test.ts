import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { joinCloud, type NodeCredentials } from "../../edgecore/hub/join.js";
import { redisInfo, withRedis } from "../../scripts/env/redis-probe.js";
import { startRedisSentinel, type RedisSentinelGroup } from "../../scripts/env/redis-sentinel.js";
import { boundPod } from "../../test/bound-pod.js";
import { TestEdge } from "../../test/edge-agent.js";
import { createPodNamespace } from "../../test/pod-namespace.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { until, untilValue } from "../../test/until.js";
import type { Cloudcore } from "../cloudcore.js";
import { KubeRest } from "../kube/kube-rest.js";
import { ClusterKeys } from "./keys.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

/**
 * Two full cloudcore replicas on a Sentinel-managed Redis (master, replica, three sentinels; the
 * data servers and the sentinels each have a password). The master is killed; the sentinels
 * promote the replica, and ownership goes on there.
 */
describe("cloudcore replicas on Redis Sentinel, across a master failover", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `rs-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-rs-"));
  const keys = new ClusterKeys();
  const replicas: Record<"a" | "b", Cloudcore | undefined> = { a: undefined, b: undefined };
  const edges: TestEdge[] = [];
  const credentials = new Map<string, NodeCredentials>();
  let group: RedisSentinelGroup;
  let rest: KubeRest;

  /**
   * Replica a has the passwords in its URL; replica b reads them from files, as the Helm chart
   * mounts them from a Secret (the URL then holds no secret).
   */
  const start = (id: "a" | "b"): Promise<Cloudcore> =>
    startTestCloudcore(kc, id === "a" ? group.url : urlWithoutPasswords(), {
      ...(id === "b" && passwordFiles()),
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
      },
      logger: log.child({ replica: id }),
    });
  const urlWithoutPasswords = (): string =>
    `redis+sentinel://${group.sentinelPorts.map((p) => `127.0.0.1:${p}`).join(",")}/${group.masterName}`;
  const passwordFiles = (): { redisPasswordFile: string; redisSentinelPasswordFile: string } => {
    const files = {
      redisPasswordFile: join(dir, "redis-password"),
      redisSentinelPasswordFile: join(dir, "sentinel-password"),
    };
    writeFileSync(files.redisPasswordFile, `${group.password ?? ""}\n`, { mode: 0o600 });
    writeFileSync(files.redisSentinelPasswordFile, group.sentinelPassword ?? "", { mode: 0o600 });
    return files;
  };
  const edgeVia = async (name: string, replica: Cloudcore): Promise<TestEdge> => {
    const { token } = await replica.tokens.create({ ttlSeconds: 600, description: "redis-sentinel" });
    const creds = await joinCloud({
      server: `127.0.0.1:${replica.certificates.port}`,
      token,
      nodeName: name,
      certDir: join(dir, name),
    });
    credentials.set(name, creds);
    const edge = new TestEdge(name, `127.0.0.1:${replica.hub.port}`, creds, log, {
      labels: { "edgefleet.io/test": namespace },
    });
    edges.push(edge);
    await edge.start();
    await edge.register();
    return edge;
  };
  /** The owner record in the master the sentinels name now. */
  const ownerRecord = async (node: string): Promise<string | null> =>
    withRedis(await group.masterPort(), group.password, (c) => c.get(keys.owner(node)));

  beforeAll(async () => {
    group = await startRedisSentinel({
      dir: join(dir, "redis"),
      password: `pw@${suffix}/x`, // needs percent-encoding in the URL
      sentinelPassword: `sentinel-${suffix}`,
    });
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
    await group.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("nodes stay owned through the failover; fenced writes, new claims and handovers work on the promoted replica", async () => {
    const a = replicas.a as Cloudcore;
    const b = replicas.b as Cloudcore;
    const names = { a: `edge-rs-a-${suffix}`, b: `edge-rs-b-${suffix}`, c: `edge-rs-c-${suffix}` };
    const edgeA = await edgeVia(names.a, a);
    const edgeB = await edgeVia(names.b, b);
    await until(
      "each replica owns its node",
      () => a.ownership.owns(names.a) && b.ownership.owns(names.b),
      10_000,
    );
    const epochs = { a: a.cluster?.nodes.epochOf(names.a), b: b.cluster?.nodes.epochOf(names.b) };
    expect(await ownerRecord(names.a)).toMatch(new RegExp(`^${suffix}-a ${epochs.a} `));

    // What the master has, the replica has too (replication is asynchronous; a real failover may
    // lose the last writes, which the next renewal puts back — see docs/ha.md).
    const [masterPort = 0, replicaPort = 0] = group.dataPorts;
    const offset = Number(
      (await redisInfo(masterPort, group.password, "replication")).get("master_repl_offset"),
    );
    await untilValue("replica caught up", 5000, async () =>
      Number((await redisInfo(replicaPort, group.password, "replication")).get("slave_repl_offset")) >= offset
        ? true
        : undefined,
    );

    const flaps: string[] = [];
    const watch = setInterval(() => {
      if (!a.ownership.owns(names.a)) flaps.push(`a lost ${names.a}`);
      if (!b.ownership.owns(names.b)) flaps.push(`b lost ${names.b}`);
    }, 50);
    const drops: string[] = [];
    for (const e of edges)
      e.hub.onStatus((s) => {
        if (s.type !== "connected") drops.push(`${e.nodeName}: ${s.type}`);
      });
    try {
      const killedAt = Date.now();
      const old = await group.killMaster();
      expect(old).toBe(masterPort);
      const promoted = await group.waitForFailover(old, 30_000);
      expect(promoted).toBe(replicaPort);
      const failoverMs = Date.now() - killedAt;

      // Fenced writes go through the new master (the clients found it through the sentinels).
      const lastErrors = new Map<string, string>();
      const fencedWrite = (replica: Cloudcore, node: string): Promise<boolean> =>
        replica.ownership.assertCurrent(node).then(
          () => true,
          (err: unknown) => {
            lastErrors.set(node, (err as Error).message);
            return false;
          },
        );
      await untilValue("fenced writes succeed on the new master", 20_000, async () =>
        (await Promise.all([fencedWrite(a, names.a), fencedWrite(b, names.b)])).every(Boolean)
          ? true
          : undefined,
      ).catch((err: unknown) => {
        throw new Error(
          `${(err as Error).message}; last errors: ${JSON.stringify(Object.fromEntries(lastErrors))}; flaps: ${flaps.join(", ")}`,
        );
      });
      const writableMs = Date.now() - killedAt;
      process.stderr.write(
        `[redis-sentinel] master killed: promoted after ${failoverMs} ms, ownership writable after ${writableMs} ms\n`,
      );
      expect(await ownerRecord(names.a)).toMatch(new RegExp(`^${suffix}-a ${epochs.a} `));
      expect(await ownerRecord(names.b)).toMatch(new RegExp(`^${suffix}-b ${epochs.b} `));
      const lease = await edgeB.renewLease();
      expect((lease.content as { Err: unknown }).Err).toBeNull();

      // A pod made now is delivered (and its ack recorded on the new master).
      await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
        body: boundPod("after-failover", names.a),
      });
      await until(
        "pod delivered after the failover",
        () => edgeA.pods().includes(`${namespace}/after-failover`),
        15_000,
      );
      await untilValue("ack recorded on the new master", 10_000, async () =>
        (await withRedis(promoted, group.password, (c) => c.hlen(`edgefleet:acked:{${names.a}}`))) > 0
          ? true
          : undefined,
      );
    } finally {
      clearInterval(watch);
    }
    expect(flaps).toEqual([]);
    expect(drops).toEqual([]);
    expect(a.cluster?.nodes.epochOf(names.a)).toBe(epochs.a);
    expect(b.cluster?.nodes.epochOf(names.b)).toBe(epochs.b);

    // A new node is claimed on the new master.
    await edgeVia(names.c, b);
    await until("b owns the new node", () => b.ownership.owns(names.c), 10_000);
    expect(await ownerRecord(names.c)).toMatch(new RegExp(`^${suffix}-b 1 `));

    // A handover request travels over pub/sub, which resubscribed on the new master: the edge of
    // a's node reconnects through b, a is asked, lets go, and b owns it with the next epoch.
    await edgeA.close();
    const moved = new TestEdge(
      names.a,
      `127.0.0.1:${b.hub.port}`,
      credentials.get(names.a) as NodeCredentials,
      log,
      {
        labels: { "edgefleet.io/test": namespace },
      },
    );
    edges.push(moved);
    await moved.start();
    await until(
      "b took a's node over by handover",
      () => b.ownership.owns(names.a) && !a.ownership.owns(names.a),
      10_000,
    );
    expect(b.cluster?.nodes.epochOf(names.a)).toBe((epochs.a ?? 0) + 1);
  }, 90_000);
});
