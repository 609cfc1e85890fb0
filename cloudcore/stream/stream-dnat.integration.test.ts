import { randomBytes, randomInt } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { Redis } from "ioredis";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Edgecore } from "../../edgecore/edgecore.js";
import { systemBinary } from "../../scripts/env/binaries.js";
import { startHaproxy, type HaproxyBalancer } from "../../scripts/env/haproxy.js";
import { httpBody, KUBECTL, kubectlInBackground, runWith, stopProcess } from "../../test/kubectl.js";
import { NetnsApiserver } from "../../scripts/env/netns-apiserver.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import {
  joinTestNode,
  removeNodeContainers,
  testEdgecoreConfig,
  tickerPod,
} from "../../test/test-edgecore.js";
import { createPodNamespace } from "../../test/pod-namespace.js";
import { untilValue } from "../../test/until.js";
import type { Cloudcore } from "../cloudcore.js";
import { ClusterKeys } from "../cluster/keys.js";
import { replicaObserver } from "../cluster/replica-registry.js";
import { commandRunner, IptablesManager } from "../iptables/iptables-manager.js";
import { tunnelTargetsOf } from "../iptables/tunnel-rules.js";
import { KubeRest } from "../kube/kube-rest.js";
import type { NodeJson } from "../kube/objects.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

describe("kubectl reaches an edge pod through the apiserver's DNAT to the owning replica, across a failover", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `sdnat-${suffix}`;
  const nodeName = `edge-sdnat-${suffix}`;
  // An address nothing answers at: only the DNAT makes the apiserver's dial to it land somewhere.
  const nodeIP = `10.205.${randomInt(1, 250)}.9`;
  const work = mkdtempSync(join(tmpdir(), "edgefleet-sdnat-"));
  const socket = env.containerd?.socket ?? "";
  const pod = "app";
  const replicas = new Map<string, Cloudcore>();
  let apiserver: NetnsApiserver;
  let lb: HaproxyBalancer;
  let rest: KubeRest;
  let redis: Redis;
  let manager: IptablesManager;
  let edgecore: Edgecore | undefined;

  /** kubectl against the apiserver inside the namespace, the one the DNAT rules apply to. */
  const kubectl = (args: readonly string[], input?: string): ReturnType<typeof runWith> =>
    runWith(apiserver.kubeconfig, KUBECTL, args, input);
  const owner = (): string | undefined => [...replicas].find(([, r]) => r.ownership.owns(nodeName))?.[0];
  const kubeletPort = async (): Promise<number | undefined> =>
    (
      (await rest.get<NodeJson>(`/api/v1/nodes/${nodeName}`)).status?.["daemonEndpoints"] as
        { kubeletEndpoint?: { Port?: number } } | undefined
    )?.kubeletEndpoint?.Port;

  /** Waits until `id` owns the node, the Node names its tunnel port, and the rules send that port to it. */
  const servedBy = async (id: string): Promise<void> => {
    const replica = replicas.get(id);
    await untilValue(`replica ${id} owns the node and is its kubelet port`, 30_000, async () =>
      replica?.ownership.owns(nodeName) && (await kubeletPort()) === replica.cluster?.tunnelPorts.port
        ? true
        : undefined,
    );
    await untilValue("the DNAT rules follow", 15_000, async () => {
      await manager.sync();
      const rules = await apiserver.exec("iptables-save", "-t", "nat");
      return rules.includes(`--dport ${replica?.cluster?.tunnelPorts.port} `) ? true : undefined;
    });
  };

  /** logs (--tail, -f), exec (stdin, exit code, a terminal) and port-forward, through the namespace's apiserver. */
  const allWork = async (): Promise<void> => {
    // The first call may meet the serving certificate before it covers the node's new address.
    const logs = await untilValue("kubectl logs through the DNAT", 30_000, async () => {
      const r = await kubectl(["logs", "-n", namespace, pod, "--tail=1"]);
      return r.code === 0 ? r.stdout : undefined;
    });
    expect(logs).toMatch(/^tick \d+\n$/);
    const exec = await kubectl(
      ["exec", "-i", "-n", namespace, pod, "--", "sh", "-c", "read x; echo got-$x; exit 7"],
      "hi\n",
    );
    expect(exec.stdout).toBe("got-hi\n");
    expect(exec.code).toBe(7);
    const terminal = await runWith(
      apiserver.kubeconfig,
      systemBinary("script", "bsdutils"),
      [
        "-qec",
        `${KUBECTL} exec -it -n ${namespace} ${pod} -- sh -c '[ -t 0 ] && echo tty; exit 5'`,
        "/dev/null",
      ],
      "",
    );
    expect(terminal.stdout.replace(/\r/g, "")).toContain("tty\n");
    expect(terminal.code).toBe(5);
    const follow = kubectlInBackground(apiserver.kubeconfig, [
      "logs",
      "-f",
      "-n",
      namespace,
      pod,
      "--tail=1",
    ]);
    try {
      const first = await untilValue(
        "a followed line",
        20_000,
        async () => /tick (\d+)\n/.exec(follow.output())?.[1],
      );
      await untilValue("more followed lines", 20_000, async () =>
        follow.output().includes(`tick ${Number(first) + 3}\n`) ? true : undefined,
      );
    } finally {
      await stopProcess(follow.child);
    }
    const forward = kubectlInBackground(apiserver.kubeconfig, [
      "port-forward",
      "-n",
      namespace,
      `pod/${pod}`,
      ":8080",
    ]);
    try {
      const port = await untilValue(
        "kubectl port-forward to listen",
        20_000,
        async () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(forward.output())?.[1],
      );
      expect(await httpBody(Number(port))).toBe(`hello-${suffix}\n`);
    } finally {
      await stopProcess(forward.child);
    }
  };

  const startReplica = async (id: string): Promise<Cloudcore> => {
    const replica = await startTestCloudcore(kc, env.redis?.url ?? "", {
      logger: log.child({ replica: id }),
      edgeNodeSelector: `edgefleet.io/test=${namespace}`,
      cluster: {
        replicaId: `${suffix}-${id}`,
        // Where the apiserver's namespace reaches this replica: the host side of its veth.
        address: apiserver.hostAddress,
        tunnelPortBase: 30000 + randomInt(0, 20000),
        livenessTtlMs: 1500,
        rebalanceIntervalMs: 0,
      },
      stream: { port: 0, host: apiserver.hostAddress },
    });
    replicas.set(id, replica);
    return replica;
  };

  beforeAll(async () => {
    const pki = env.kubernetes?.pki;
    if (!pki) throw new Error("no control plane");
    apiserver = await NetnsApiserver.start({ dir: work, pki, etcdUrl: env.kubernetes?.etcdUrl ?? "" });
    rest = await KubeRest.create(kc);
    redis = new Redis(env.redis?.url ?? "");
    const a = await startReplica("a");
    const b = await startReplica("b");
    lb = await startHaproxy(join(work, "haproxy"), [
      {
        name: "tunnel",
        balance: "leastconn",
        backends: [
          { name: "a", host: "127.0.0.1", port: a.hub.port },
          { name: "b", host: "127.0.0.1", port: b.hub.port },
        ],
      },
    ]);
    const registry = replicaObserver(redis, new ClusterKeys(), log);
    manager = new IptablesManager({
      chain: `EF-S-${suffix}`,
      // Only this test's replicas (others share the Redis).
      targets: async () => tunnelTargetsOf((await registry.list()).filter((r) => r.id.startsWith(suffix))),
      run: commandRunner(["ip", "netns", "exec", apiserver.netns]),
      log,
    });
    await createPodNamespace(rest, namespace);
    const credentials = await joinTestNode(a, nodeName, work);
    edgecore = new Edgecore({
      config: testEdgecoreConfig(
        { nodeName, tunnelPort: lb.ports["tunnel"] ?? 0, work, containerdSocket: socket },
        { nodeIP, labels: { "edgefleet.io/test": namespace } },
      ),
      credentials,
      log,
    });
    await edgecore.start();
    await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
      body: tickerPod(pod, nodeName, suffix),
    });
    await untilValue("the pod Running", 90_000, async () => {
      const p = await rest.get<{ status?: { phase?: string } }>(
        `/api/v1/namespaces/${namespace}/pods/${pod}`,
      );
      return p.status?.phase === "Running" ? true : undefined;
    });
  }, 240_000);

  afterAll(async () => {
    await edgecore?.stop();
    for (const r of replicas.values()) await r.close();
    await manager?.remove().catch(() => undefined);
    await lb?.stop();
    await removeNodeContainers(socket, nodeName);
    await rest?.request("delete", `/api/v1/nodes/${nodeName}`).catch(() => undefined);
    await rest?.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rest?.close();
    redis?.disconnect();
    await apiserver?.stop();
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it("works against the owner, then against the new owner after the owner is killed", async () => {
    const first = await untilValue("an owner", 30_000, async () => owner());
    await servedBy(first);
    await allWork();

    // The owner dies; the edge's tunnel comes back through the balancer to the other replica.
    await replicas.get(first)?.crash();
    replicas.delete(first);
    const second = first === "a" ? "b" : "a";
    await servedBy(second);
    await untilValue("the dead replica's rule is gone", 15_000, async () => {
      await manager.sync();
      const rules = await apiserver.exec("iptables-save", "-t", "nat");
      return rules.match(/-j DNAT/g)?.length === 1 ? true : undefined;
    });
    await allWork();
  }, 180_000);
});
