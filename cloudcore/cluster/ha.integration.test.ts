import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { joinCloud, type NodeCredentials } from "../../edgecore/hub/join.js";
import { startHaproxy, type HaproxyBalancer } from "../../scripts/env/haproxy.js";
import { freePort } from "../../scripts/env/ports.js";
import { boundPod } from "../../test/bound-pod.js";
import { TestEdge } from "../../test/edge-agent.js";
import { until, untilValue } from "../../test/until.js";
import { Cloudcore } from "../cloudcore.js";
import { KubeRest } from "../kube/kube-rest.js";
import type { NodeJson, PodJson } from "../kube/objects.js";
import { newMessage } from "../../protocol/message.js";
import { Upstream } from "../controllers/upstream.js";
import { createCloudcoreMetrics } from "../metrics.js";
import { FencedError } from "./node-ownership.js";
import { createPodNamespace } from "../../test/pod-namespace.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

describe("cloudcore replicas behind HAProxy: ownership, handover, takeover", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `ha-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-ha-"));
  const replicas = new Map<string, Cloudcore>();
  const ports = new Map<string, { tunnel: number; certificates: number }>();
  const edges: TestEdge[] = [];
  const credentials = new Map<string, NodeCredentials>();
  let lb: HaproxyBalancer;
  let rest: KubeRest;

  const start = async (id: string, rebalanceIntervalMs = 0): Promise<Cloudcore> => {
    const p = ports.get(id) ?? { tunnel: await freePort(), certificates: await freePort() };
    ports.set(id, p);
    const replica = await Cloudcore.start({
      kubeConfig: kc,
      advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
      host: "127.0.0.1",
      tunnelPort: p.tunnel,
      certificatePort: p.certificates,
      kubeedgePort: null,
      metricsPort: null,
      deviceWebhook: null,
      stream: { port: 0 },
      redisUrl: env.redis?.url ?? "",
      keepaliveTimeoutMs: 3000,
      offlineGraceMs: 5000,
      leaseRenewIntervalMs: 1000,
      cluster: {
        replicaId: `${suffix}-${id}`,
        livenessTtlMs: 1500,
        handoverTimeoutMs: 3000,
        adoptIntervalMs: 1000,
        rebalanceIntervalMs,
      },
      logger: log.child({ replica: id }),
    });
    replicas.set(id, replica);
    return replica;
  };
  const edgeVia = async (name: string, port: number): Promise<TestEdge> => {
    const creds = credentials.get(name);
    if (!creds) throw new Error(`${name} has not joined`);
    const edge = new TestEdge(name, `127.0.0.1:${port}`, creds, log, {
      labels: { "edgefleet.io/test": namespace },
    });
    edges.push(edge);
    await edge.start();
    return edge;
  };
  const join_ = async (name: string): Promise<void> => {
    const [id, replica] = [...replicas][0] ?? [];
    if (!replica || !id) throw new Error("no replica running");
    const { token } = await replica.tokens.create({ ttlSeconds: 600, description: "ha" });
    const server = `127.0.0.1:${ports.get(id)?.certificates ?? 0}`;
    credentials.set(name, await joinCloud({ server, token, nodeName: name, certDir: join(dir, name) }));
  };
  const ownerOf = (node: string): string | undefined =>
    [...replicas].find(([, r]) => r.ownership.owns(node) && r.hub.sessions.get(node))?.[0];
  const createPod = (name: string, node: string): Promise<unknown> =>
    rest.request("create", `/api/v1/namespaces/${namespace}/pods`, { body: boundPod(name, node) });

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    await start("a");
    await start("b");
    const a = ports.get("a") ?? { tunnel: 0, certificates: 0 };
    const b = ports.get("b") ?? { tunnel: 0, certificates: 0 };
    lb = await startHaproxy(join(dir, "haproxy"), [
      {
        name: "tunnel",
        balance: "leastconn",
        backends: [
          { name: "a", host: "127.0.0.1", port: a.tunnel },
          { name: "b", host: "127.0.0.1", port: b.tunnel },
        ],
      },
      {
        name: "certificates",
        backends: [
          { name: "a", host: "127.0.0.1", port: a.certificates },
          { name: "b", host: "127.0.0.1", port: b.certificates },
        ],
      },
    ]);
    await createPodNamespace(rest, namespace);
  }, 60_000);

  afterAll(async () => {
    await Promise.all(edges.map((e) => e.close()));
    await Promise.all([...replicas.values()].map((r) => r.close()));
    await lb.stop();
    const nodes = (await rest.list<NodeJson>("/api/v1/nodes")).items.map((n) => n.metadata?.name ?? "");
    for (const n of nodes.filter((n) => n.includes(suffix)))
      await rest.request("delete", `/api/v1/nodes/${n}`).catch(() => undefined);
    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rest.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("an edge that moves to another replica is handed over: the new owner serves it, the old one is fenced", async () => {
    const node = `edge-move-${suffix}`;
    await join_(node);
    const first = await edgeVia(node, ports.get("a")?.tunnel ?? 0);
    await first.register();
    // Registered for the first time: the Node is created with its owner and epoch already on it.
    const created = await rest.get<NodeJson>(`/api/v1/nodes/${node}`);
    expect(created.metadata?.annotations?.["edgefleet.io/owner"]).toBe(`${suffix}-a`);
    expect(created.metadata?.annotations?.["edgefleet.io/owner-epoch"]).toBe(
      String(replicas.get("a")?.cluster?.nodes.epochOf(node)),
    );
    await createPod("moved-pod", node);
    await until("pod at the edge via a", () => first.pods().length === 1, 15_000);
    const a = replicas.get("a") as Cloudcore;
    const b = replicas.get("b") as Cloudcore;
    expect(a.ownership.owns(node)).toBe(true);
    await until("a has acked everything", () => a.hub.delivery.pending(node) === 0, 10_000);
    await first.close();

    const moved = await edgeVia(node, ports.get("b")?.tunnel ?? 0);
    await until(
      "b owns and serves the node",
      () => b.ownership.owns(node) && !a.ownership.owns(node),
      10_000,
    );
    await moved.register();
    // b resumed from what the edge acked through a: the pod is not sent again.
    await new Promise((r) => setTimeout(r, 1000));
    expect(moved.received.filter((m) => m.route.resource?.includes("/pod/"))).toEqual([]);
    await expect(a.ownership.assertCurrent(node)).rejects.toBeInstanceOf(FencedError);
    // Writes go through b.
    const reply = await moved.request(
      "patch",
      `${namespace}/podpatch/moved-pod`,
      JSON.stringify({ status: { phase: "Running" } }),
    );
    expect((reply.content as { Err: unknown }).Err).toBeNull();
    // The window the Redis check leaves is closed in the apiserver: a stale replica whose Redis
    // check had (wrongly) passed still cannot write the Node, whose annotation names b's epoch.
    const bEpoch = b.ownership.owned().get(node) ?? 0;
    await untilValue("Node annotated with b's epoch", 10_000, async () => {
      const n = await rest.get<NodeJson>(`/api/v1/nodes/${node}`);
      return n.metadata?.annotations?.["edgefleet.io/owner-epoch"] === String(bEpoch) ? n : undefined;
    });
    const stale = new Upstream({
      rest,
      edge: a.edge,
      metrics: createCloudcoreMetrics(),
      log,
      fence: async () => undefined,
      epochOf: () => bEpoch - 1,
    });
    const refused = await stale.handle(
      node,
      newMessage({
        source: "edged",
        group: "meta",
        operation: "patch",
        resource: `null/nodepatch/${node}`,
        content: JSON.stringify({ status: { capacity: { pods: "7" } } }),
      }),
    );
    expect(refused?.content).toMatchObject({ Err: { ErrStatus: { code: 503 } } });
    expect((await rest.get<NodeJson>(`/api/v1/nodes/${node}`)).status?.capacity?.["pods"]).not.toBe("7");
  }, 60_000);

  it("a node that comes back to a replica it left gets what it lacks, even if that replica acked it before", async () => {
    const node = `edge-return-${suffix}`;
    await join_(node);
    const a = replicas.get("a") as Cloudcore;
    const b = replicas.get("b") as Cloudcore;
    await rest.request("create", `/api/v1/namespaces/${namespace}/configmaps`, {
      body: { metadata: { name: "shared-config" }, data: { k: "v" } },
    });
    const podWithConfig = (name: string): Promise<unknown> =>
      rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
        body: boundPod(name, node, { volumes: [{ name: "cfg", configMap: { name: "shared-config" } }] }),
      });
    const cm = `${namespace}/configmap/shared-config`;
    // 1. Served by a: the pod and its ConfigMap go down and are acked through a.
    let edge = await edgeVia(node, ports.get("a")?.tunnel ?? 0);
    await edge.register();
    await podWithConfig("first");
    await until("configmap at the edge via a", () => edge.store.has(cm), 15_000);
    await until("acked via a", () => a.hub.delivery.pending(node) === 0, 10_000);
    // 2. Moves to b; the pod is deleted, so b removes the ConfigMap from the node.
    await edge.close();
    const viaB = await edgeVia(node, ports.get("b")?.tunnel ?? 0);
    await until("b serves it", () => b.ownership.owns(node), 10_000);
    viaB.store.set(cm, { operation: "insert", content: {} }); // what the edge still holds
    await rest.request("delete", `/api/v1/namespaces/${namespace}/pods/first`, {
      body: { gracePeriodSeconds: 0 },
    });
    await until("configmap removed via b", () => !viaB.store.has(cm), 15_000);
    await until("acked via b", () => b.hub.delivery.pending(node) === 0, 10_000);
    // 3. While the edge is away the same ConfigMap (unchanged) is needed again; the edge returns to
    // a, which once had it acked: a must still send it.
    await viaB.close();
    await podWithConfig("second");
    edge = await edgeVia(node, ports.get("a")?.tunnel ?? 0);
    await until("a serves it again", () => a.ownership.owns(node) && !b.ownership.owns(node), 10_000);
    await until(
      "pod and configmap sent by a",
      () => edge.store.has(`${namespace}/pod/second`) && edge.store.has(cm),
      15_000,
    );
  }, 60_000);

  it("when a replica dies its nodes reconnect through HAProxy, are taken over, stay Ready, and lose or repeat nothing", async () => {
    const names = [0, 1, 2, 3].map((i) => `edge-ha-${i}-${suffix}`);
    for (const name of names) await join_(name);
    const connected = new Map<string, TestEdge>();
    for (const name of names) {
      const edge = await edgeVia(name, lb.ports["tunnel"] ?? 0);
      await edge.register();
      connected.set(name, edge);
      await createPod(`pod-${name}`, name);
    }
    for (const [name, edge] of connected)
      await until(`pod at ${name}`, () => edge.pods().length === 1, 15_000);
    const owners = new Map(names.map((n) => [n, ownerOf(n)]));
    // leastconn spread them over both replicas.
    const victim = owners.get(names[0] ?? "") ?? "a";
    const orphans = names.filter((n) => owners.get(n) === victim);
    expect(orphans.length).toBeGreaterThan(0);
    const survivor = victim === "a" ? "b" : "a";
    for (const r of replicas.values())
      for (const n of names) await until(`${n} acked`, () => r.hub.delivery.pending(n) === 0, 10_000);
    const marks = new Map(names.map((n) => [n, connected.get(n)?.received.length ?? 0]));

    const killedAt = Date.now();
    await replicas.get(victim)?.crash();
    replicas.delete(victim);
    const survivorCore = replicas.get(survivor) as Cloudcore;
    await until(
      "orphans re-owned by the survivor",
      () => orphans.every((n) => survivorCore.ownership.owns(n) && survivorCore.hub.sessions.get(n)),
      20_000,
    );
    const reownedMs = Date.now() - killedAt;
    expect(reownedMs).toBeLessThan(10_000);

    // Nothing lost or repeated: no pod message at all after the failover, and a new pod arrives once.
    for (const n of orphans) {
      const edge = connected.get(n) as TestEdge;
      expect(edge.received.slice(marks.get(n)).filter((m) => m.route.resource?.includes("/pod/"))).toEqual(
        [],
      );
      expect(edge.pods()).toEqual([`${namespace}/pod-${n}`]);
    }
    const target = orphans[0] ?? "";
    await createPod(`after-${target}`, target);
    const edge = connected.get(target) as TestEdge;
    await until("new pod at the edge", () => edge.pods().length === 2, 15_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(edge.received.filter((m) => m.route.resource === `${namespace}/pod/after-${target}`)).toHaveLength(
      1,
    );
    // The pod reported Running through the new owner; the node stayed Ready, untainted.
    await untilValue("pod Running", 10_000, async () => {
      const pod = await rest.get<PodJson>(`/api/v1/namespaces/${namespace}/pods/after-${target}`);
      return pod.status?.phase === "Running" ? pod : undefined;
    });
    for (const n of orphans) {
      const node = await rest.get<NodeJson>(`/api/v1/nodes/${n}`);
      expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      expect(node.spec?.taints ?? []).toEqual([]);
    }
    // Bring the replica back for the other tests' cleanup symmetry.
    await start(victim);
  }, 90_000);

  it("a replica that joins gets its share: the loaded one sheds nodes until the spread is within ±10 %", async () => {
    // Only fresh replicas c (loaded) and d (joining later) in the cluster, with their own balancer,
    // rebalancing every 300 ms.
    await Promise.all(edges.splice(0).map((e) => e.close()));
    for (const id of ["a", "b"]) {
      await replicas.get(id)?.close();
      replicas.delete(id);
    }
    const c = await start("c", 300);
    const dPorts = { tunnel: await freePort(), certificates: await freePort() };
    ports.set("d", dPorts);
    const cPorts = ports.get("c") ?? { tunnel: 0, certificates: 0 };
    const balancer = await startHaproxy(join(dir, "haproxy-cd"), [
      {
        name: "tunnel",
        balance: "leastconn",
        backends: [
          { name: "c", host: "127.0.0.1", port: cPorts.tunnel },
          { name: "d", host: "127.0.0.1", port: dPorts.tunnel },
        ],
      },
    ]);
    try {
      const names = Array.from({ length: 10 }, (_, i) => `edge-rb-${i}-${suffix}`);
      for (const name of names) await join_(name);
      const connected: TestEdge[] = [];
      for (const name of names) connected.push(await edgeVia(name, balancer.ports["tunnel"] ?? 0));
      await until("all on c", () => names.every((n) => c.hub.sessions.get(n) && c.ownership.owns(n)), 20_000);

      const d = await start("d", 300);
      await until(
        "spread within ±10 % of even",
        () => c.hub.sessions.size === 5 && d.hub.sessions.size === 5,
        30_000,
      );
      // Every node ends with exactly one owner, which is also where its tunnel is.
      await until(
        "each node owned where it is connected",
        () =>
          names.every((n) => [c, d].filter((r) => r.ownership.owns(n) && r.hub.sessions.get(n)).length === 1),
        10_000,
      );
      for (const n of names) expect([c, d].filter((r) => r.ownership.owns(n))).toHaveLength(1);
    } finally {
      await balancer.stop();
    }
  }, 90_000);
});
