import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { joinCloud } from "../../edgecore/hub/join.js";
import { NetnsPair } from "../../test/netns.js";
import { TestEdge } from "../../test/edge-agent.js";
import { until, untilValue } from "../../test/until.js";
import type { Cloudcore } from "../cloudcore.js";
import { ClusterKeys } from "../cluster/keys.js";
import { replicaObserver } from "../cluster/replica-registry.js";
import { KubeRest } from "../kube/kube-rest.js";
import type { NodeJson } from "../kube/objects.js";
import { commandRunner, IptablesManager } from "./iptables-manager.js";
import { tunnelTargetsOf } from "./tunnel-rules.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });
const NODE_IP = "10.202.0.9";
const STREAM_PORT = 10003;

describe("apiserver DNAT to the owning replica, in a network namespace", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const label = `dnat-${suffix}`;
  const node = `edge-dnat-${suffix}`;
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-dnat-"));
  const chain = `EF-T-${suffix}`;
  const addresses = { a: "10.203.0.2", b: "10.203.0.3" } as const;
  let netns: NetnsPair;
  let rest: KubeRest;
  let redis: Redis;
  let manager: IptablesManager;
  const replicas: Record<string, Cloudcore> = {};
  const edges: TestEdge[] = [];

  const start = (id: "a" | "b"): Promise<Cloudcore> =>
    startTestCloudcore(kc, env.redis?.url ?? "", {
      edgeNodeSelector: `edgefleet.io/test=${label}`,
      cluster: {
        replicaId: `${suffix}-${id}`,
        address: addresses[id],
        streamPort: STREAM_PORT,
        tunnelPortBase: 30000 + Math.floor(Math.random() * 20000),
        livenessTtlMs: 1500,
        rebalanceIntervalMs: 0,
      },
      logger: log.child({ replica: id }),
    });
  const kubeletPort = async (): Promise<number | undefined> => {
    const n = await rest.get<NodeJson>(`/api/v1/nodes/${node}`).catch(() => undefined);
    return (n?.status?.["daemonEndpoints"] as { kubeletEndpoint?: { Port?: number } } | undefined)
      ?.kubeletEndpoint?.Port;
  };

  beforeAll(async () => {
    netns = await NetnsPair.create("10.203.0.1", [addresses.a, addresses.b]);
    // Stand-ins for the two replicas' stream listeners, each answering with its name.
    await netns.serve(addresses.a, STREAM_PORT, "replica-a");
    await netns.serve(addresses.b, STREAM_PORT, "replica-b");
    rest = await KubeRest.create(kc);
    redis = new Redis(env.redis?.url ?? "");
    replicas["a"] = await start("a");
    replicas["b"] = await start("b");
    const registry = replicaObserver(redis, new ClusterKeys(), log);
    manager = new IptablesManager({
      chain,
      // Only this test's replicas (others share the Redis).
      // Only this test's replicas (others share the Redis).
      targets: async () => tunnelTargetsOf((await registry.list()).filter((r) => r.id.startsWith(suffix))),
      run: commandRunner(["ip", "netns", "exec", netns.client]),
      log,
    });
  }, 60_000);

  afterAll(async () => {
    await Promise.all(edges.map((e) => e.close()));
    for (const r of Object.values(replicas)) await r.close();
    await rest.request("delete", `/api/v1/nodes/${node}`).catch(() => undefined);
    rest.close();
    redis.disconnect();
    await netns.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a connection to (node address, owner's tunnel port) reaches the owner, and follows a failover", async () => {
    const a = replicas["a"] as Cloudcore;
    const b = replicas["b"] as Cloudcore;
    const { token } = await a.tokens.create({ ttlSeconds: 600, description: "dnat" });
    const creds = await joinCloud({
      server: `127.0.0.1:${a.certificates.port}`,
      token,
      nodeName: node,
      certDir: dir,
    });
    const first = new TestEdge(node, `127.0.0.1:${a.hub.port}`, creds, log, {
      labels: { "edgefleet.io/test": label },
    });
    edges.push(first);
    await first.start();
    await first.register();
    const portA = a.cluster?.tunnelPorts.port;
    const portB = b.cluster?.tunnelPorts.port;
    expect(portA).toBeDefined();
    expect(portB).not.toBe(portA);
    await untilValue("kubelet port = a's tunnel port", 10_000, async () =>
      (await kubeletPort()) === portA ? true : undefined,
    );

    expect(await manager.sync()).toBe(true);
    expect(await manager.sync()).toBe(false); // idempotent: nothing to change
    expect(await netns.connect(NODE_IP, portA ?? 0)).toBe("replica-a");

    // a dies; the edge comes back through b, which takes the node over.
    await a.crash();
    delete replicas["a"];
    const second = new TestEdge(node, `127.0.0.1:${b.hub.port}`, creds, log, {
      labels: { "edgefleet.io/test": label },
    });
    edges.push(second);
    await second.start();
    await until("b owns the node", () => b.ownership.owns(node), 15_000);
    await untilValue("kubelet port = b's tunnel port", 10_000, async () =>
      (await kubeletPort()) === portB ? true : undefined,
    );
    // Once a's liveness key expired its rule goes.
    await untilValue("rules follow the failover", 10_000, async () => {
      await manager.sync();
      const saved = await netns.exec(netns.client, "iptables-save", "-t", "nat");
      return saved.includes(`--dport ${portB}`) && !saved.includes(`--dport ${portA}`) ? saved : undefined;
    });
    expect(await netns.connect(NODE_IP, portB ?? 0)).toBe("replica-b");
    const saved = await netns.exec(netns.client, "iptables-save", "-t", "nat");
    expect(saved).toContain(`-A OUTPUT -j ${chain}`);
    expect(saved).toContain(`-A PREROUTING -j ${chain}`);
    await manager.remove();
    expect(await netns.exec(netns.client, "iptables-save", "-t", "nat")).not.toContain(chain);
  }, 60_000);
});
