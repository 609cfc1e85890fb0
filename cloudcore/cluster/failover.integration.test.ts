import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { joinCloud } from "../../edgecore/hub/join.js";
import { startHaproxy, type HaproxyBalancer } from "../../scripts/env/haproxy.js";
import { freePort } from "../../scripts/env/ports.js";
import { boundPod } from "../../test/bound-pod.js";
import { TestEdge } from "../../test/edge-agent.js";
import { until, untilValue } from "../../test/until.js";
import { KubeRest } from "../kube/kube-rest.js";
import type { NodeJson, PodJson } from "../kube/objects.js";
import { ClusterKeys } from "./keys.js";
import { createPodNamespace } from "../../test/pod-namespace.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

interface ReplicaProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly ports: { tunnel: number; certificates: number; metrics: number };
}

describe("kill -9 of a cloudcore replica process (3 replicas behind HAProxy)", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const label = `failover-${suffix}`;
  const namespace = label;
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-failover-"));
  const replicas = new Map<string, ReplicaProcess>();
  const edges = new Map<string, TestEdge>();
  const keys = new ClusterKeys();
  let lb: HaproxyBalancer;
  let rest: KubeRest;
  let redis: Redis;

  const spawnReplica = async (id: string): Promise<ReplicaProcess> => {
    const ports = {
      tunnel: await freePort(),
      certificates: await freePort(),
      metrics: await freePort(),
      stream: await freePort(),
    };
    // One node process (no tsx wrapper), so SIGKILL hits cloudcore itself.
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "cloudcore/main.ts",
        "run",
        ...["--kubeconfig", env.kubernetes?.kubeconfig ?? "", "--redis-url", env.redis?.url ?? ""],
        ...["--replica-id", `${suffix}-${id}`, "--host", "127.0.0.1", "--advertise-address", "127.0.0.1"],
        ...["--tunnel-port", String(ports.tunnel), "--certificate-port", String(ports.certificates)],
        ...["--metrics-port", String(ports.metrics), "--kubeedge-port", "0", "--device-webhook-port", "0"],
        ...["--stream-port", String(ports.stream)],
        ...["--edge-node-selector", `edgefleet.io/test=${label}`, "--rebalance-interval", "0"],
        ...["--log-level", process.env["EDGEFLEET_TEST_LOG"] ?? "warn"],
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    const replica = { id: `${suffix}-${id}`, child, ports };
    replicas.set(replica.id, replica);
    await untilValue(`replica ${id} ready`, 60_000, async () =>
      fetch(`http://127.0.0.1:${ports.metrics}/readyz`).then(
        (r) => (r.ok ? true : undefined),
        () => undefined,
      ),
    );
    return replica;
  };
  const ownerOf = async (node: string): Promise<string | undefined> =>
    (await redis.get(keys.owner(node)))?.split(" ")[0];
  const createPod = (name: string, node: string): Promise<unknown> =>
    rest.request("create", `/api/v1/namespaces/${namespace}/pods`, { body: boundPod(name, node) });

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    redis = new Redis(env.redis?.url ?? "");
    const started = await Promise.all(["a", "b", "c"].map((id) => spawnReplica(id)));
    lb = await startHaproxy(join(dir, "haproxy"), [
      {
        name: "tunnel",
        balance: "leastconn",
        backends: started.map((r) => ({ name: r.id, host: "127.0.0.1", port: r.ports.tunnel })),
      },
      {
        name: "certificates",
        backends: started.map((r) => ({ name: r.id, host: "127.0.0.1", port: r.ports.certificates })),
      },
    ]);
    await createPodNamespace(rest, namespace);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([...edges.values()].map((e) => e.close()));
    await Promise.all(
      [...replicas.values()].map(
        (r) =>
          new Promise<void>((resolve) => {
            if (r.child.exitCode !== null || r.child.signalCode !== null) return resolve();
            r.child.once("exit", () => resolve());
            r.child.kill("SIGTERM");
          }),
      ),
    );
    await lb.stop();
    for (const name of edges.keys())
      await rest.request("delete", `/api/v1/nodes/${name}`).catch(() => undefined);
    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rest.close();
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the dead replica's nodes are re-owned by the survivors, stay Ready, and lose or repeat nothing", async () => {
    const tokenOut = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          "cloudcore/main.ts",
          "token",
          "create",
          "--kubeconfig",
          env.kubernetes?.kubeconfig ?? "",
        ],
        { stdio: ["ignore", "pipe", "ignore"] },
      );
      let out = "";
      child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
      child.on("exit", (code) =>
        code === 0 ? resolve(out.trim()) : reject(new Error(`token create exit ${code}`)),
      );
    });
    const names = Array.from({ length: 6 }, (_, i) => `edge-fo-${i}-${suffix}`);
    for (const name of names) {
      const creds = await joinCloud({
        server: `127.0.0.1:${lb.ports["certificates"] ?? 0}`,
        token: tokenOut,
        nodeName: name,
        certDir: join(dir, name),
      });
      const edge = new TestEdge(name, `127.0.0.1:${lb.ports["tunnel"] ?? 0}`, creds, log, {
        labels: { "edgefleet.io/test": label },
      });
      edges.set(name, edge);
      await edge.start();
      await edge.register();
      await createPod(`pod-${name}`, name);
    }
    for (const [name, edge] of edges) await until(`pod at ${name}`, () => edge.pods().length === 1, 20_000);
    const owners = new Map<string, string | undefined>();
    for (const name of names) owners.set(name, await ownerOf(name));
    const victim = owners.get(names[0] ?? "") ?? "";
    const orphans = names.filter((n) => owners.get(n) === victim);
    expect(new Set(owners.values()).size).toBeGreaterThan(1); // leastconn spread them
    // Let in-flight acks land before the kill.
    await new Promise((r) => setTimeout(r, 1000));
    const marks = new Map(names.map((n) => [n, edges.get(n)?.received.length ?? 0]));

    const killedAt = Date.now();
    replicas.get(victim)?.child.kill("SIGKILL");
    await until(
      "orphans re-owned by survivors and connected",
      () => orphans.every((n) => edges.get(n)?.hub.status.type === "connected"),
      30_000,
    );
    await untilValue("orphans owned by live replicas", 30_000, async () => {
      for (const n of orphans) {
        const owner = await ownerOf(n);
        if (!owner || owner === victim) return undefined;
      }
      return true;
    });
    const reownedMs = Date.now() - killedAt;
    process.stderr.write(`[failover] ${orphans.length} nodes re-owned ${reownedMs} ms after kill -9\n`);
    expect(reownedMs).toBeLessThan(20_000);

    // Nothing repeated: no pod message reached the moved edges; nothing lost: a new pod arrives once.
    for (const n of orphans) {
      const edge = edges.get(n) as TestEdge;
      expect(edge.received.slice(marks.get(n)).filter((m) => m.route.resource?.includes("/pod/"))).toEqual(
        [],
      );
      expect(edge.pods()).toEqual([`${namespace}/pod-${n}`]);
    }
    const target = orphans[0] ?? "";
    await createPod(`after-${target}`, target);
    const edge = edges.get(target) as TestEdge;
    await until("new pod at the moved edge", () => edge.pods().length === 2, 20_000);
    await untilValue("new pod Running", 20_000, async () => {
      const pod = await rest.get<PodJson>(`/api/v1/namespaces/${namespace}/pods/after-${target}`);
      return pod.status?.phase === "Running" ? true : undefined;
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(edge.received.filter((m) => m.route.resource === `${namespace}/pod/after-${target}`)).toHaveLength(
      1,
    );
    for (const n of names) {
      const node = await rest.get<NodeJson>(`/api/v1/nodes/${n}`);
      expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
      expect(node.spec?.taints ?? []).toEqual([]);
    }
  }, 180_000);
});
