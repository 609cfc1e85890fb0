import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { joinCloud, type NodeCredentials } from "../../edgecore/hub/join.js";
import { freePort } from "../../scripts/env/ports.js";
import { TestEdge } from "../../test/edge-agent.js";
import { until, untilValue } from "../../test/until.js";
import { Cloudcore } from "../cloudcore.js";
import { KubeRest, statusCodeOf } from "../kube/kube-rest.js";
import type { KubeObject, NodeJson, PodJson } from "../kube/objects.js";
import { OFFLINE_TAINT, TUNNEL_CONDITION } from "./node-health.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("EdgeController end to end: real apiserver, scheduler, controller-manager, Redis", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `edge-e2e-${suffix}`;
  const nodeName = `edge-a-${suffix}`;
  const otherNode = `edge-b-${suffix}`;
  const certDir = mkdtempSync(join(tmpdir(), "edgefleet-e2e-"));
  let rest: KubeRest;
  let cloudcore: Cloudcore;
  let ports: { tunnel: number; certificates: number };
  let edge: TestEdge;
  let other: TestEdge;
  let credentials: NodeCredentials;

  const startCloudcore = (): Promise<Cloudcore> =>
    Cloudcore.start({
      kubeConfig: kc,
      advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
      host: "127.0.0.1",
      tunnelPort: ports.tunnel,
      certificatePort: ports.certificates,
      kubeedgePort: null,
      metricsPort: 0,
      stream: { port: 0 },
      redisUrl: env.redis?.url ?? "",
      // Only this test's nodes: other tests' cloudcores share the apiserver.
      edgeNodeSelector: `edgefleet.io/test=${namespace}`,
      keepaliveTimeoutMs: 3000,
      ackTimeoutMs: 2000,
      offlineGraceMs: 2000,
      leaseRenewIntervalMs: 1000,
      logger: log,
    });

  const newEdge = (name: string, creds: NodeCredentials): TestEdge =>
    new TestEdge(name, `127.0.0.1:${ports.tunnel}`, creds, log, {
      labels: { "edgefleet.io/test": namespace },
    });

  const pod = (name: string): Promise<PodJson> =>
    rest.get<PodJson>(`/api/v1/namespaces/${namespace}/pods/${name}`);
  const node = (name = nodeName): Promise<NodeJson> => rest.get<NodeJson>(`/api/v1/nodes/${name}`);
  const podsOnNode = async (): Promise<PodJson[]> =>
    (
      await rest.list<PodJson>(`/api/v1/namespaces/${namespace}/pods`, {
        fieldSelector: `spec.nodeName=${nodeName}`,
      })
    ).items;
  const condition = (n: NodeJson, type: string): string | undefined =>
    n.status?.conditions?.find((c) => c.type === type)?.status;
  const messagesAfter = (e: TestEdge, from: number): string[] =>
    e.received.slice(from).map((m) => `${m.route.operation ?? ""} ${m.route.resource ?? ""}`);

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    ports = { tunnel: await freePort(), certificates: await freePort() };
    cloudcore = await startCloudcore();
    await rest.request("create", "/api/v1/namespaces", { body: { metadata: { name: namespace } } });
    const { token } = await cloudcore.tokens.create({ ttlSeconds: 600, description: "e2e" });
    credentials = await joinCloud({
      server: `127.0.0.1:${ports.certificates}`,
      token,
      nodeName,
      certDir: join(certDir, nodeName),
    });
    const otherCredentials = await joinCloud({
      server: `127.0.0.1:${ports.certificates}`,
      token,
      nodeName: otherNode,
      certDir: join(certDir, otherNode),
    });
    edge = newEdge(nodeName, credentials);
    other = newEdge(otherNode, otherCredentials);
    await edge.start();
    await other.start();
  }, 60_000);

  afterAll(async () => {
    await edge.close();
    await other.close();
    await cloudcore.close();
    for (const n of [nodeName, otherNode]) {
      await rest.request("delete", `/api/v1/nodes/${n}`).catch(() => undefined);
      await rest
        .request("delete", `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${n}`)
        .catch(() => undefined);
    }
    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rest.close();
    rmSync(certDir, { recursive: true, force: true });
  });

  it("registers the edge node: Ready, with capacity, addresses and the edge role label", async () => {
    const reply = await edge.register();
    expect((reply.content as { Err: unknown }).Err).toBeNull();
    await other.register();
    const registered = await node();
    expect(registered.metadata?.labels?.["node-role.kubernetes.io/edge"]).toBe("");
    expect(condition(registered, "Ready")).toBe("True");
    expect(registered.status?.capacity?.["cpu"]).toBe("2");
    expect(registered.status?.addresses).toContainEqual({ type: "InternalIP", address: "127.0.0.1" });
    const lease = await rest.get(
      `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeName}`,
    );
    expect((lease["spec"] as { holderIdentity?: string }).holderIdentity).toBe(nodeName);
    // The edge was sent its own Node (spec and metadata, no status) and acked it.
    await until("node object at the edge", () => edge.store.has(`null/node/${nodeName}`), 10_000);
  });

  it("runs a 3-replica Deployment scheduled onto the edge node, with only the objects its pods use", async () => {
    await rest.request("create", `/api/v1/namespaces/${namespace}/configmaps`, {
      body: { metadata: { name: "app-config" }, data: { greeting: "hello" } },
    });
    await rest.request("create", `/api/v1/namespaces/${namespace}/secrets`, {
      body: { metadata: { name: "app-secret" }, stringData: { password: "s3cret" } },
    });
    await rest.request("create", `/api/v1/namespaces/${namespace}/secrets`, {
      body: { metadata: { name: "unrelated-secret" }, stringData: { key: "not for edges" } },
    });
    await rest.request("create", `/apis/apps/v1/namespaces/${namespace}/deployments`, {
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: {
              nodeSelector: { "node-role.kubernetes.io/edge": "", "kubernetes.io/hostname": nodeName },
              automountServiceAccountToken: false,
              // Short tolerations: were the node ever marked unreachable, eviction would follow in
              // seconds, so the offline test below sees it if cloudcore fails to prevent it.
              tolerations: [
                {
                  key: "node.kubernetes.io/unreachable",
                  operator: "Exists",
                  effect: "NoExecute",
                  tolerationSeconds: 2,
                },
                {
                  key: "node.kubernetes.io/not-ready",
                  operator: "Exists",
                  effect: "NoExecute",
                  tolerationSeconds: 2,
                },
              ],
              containers: [
                {
                  name: "main",
                  image: "docker.io/edgefleet/busybox:1.35",
                  env: [
                    {
                      name: "PASSWORD",
                      valueFrom: { secretKeyRef: { name: "app-secret", key: "password" } },
                    },
                  ],
                  volumeMounts: [{ name: "config", mountPath: "/config" }],
                },
              ],
              volumes: [{ name: "config", configMap: { name: "app-config" } }],
            },
          },
        },
      },
    });
    await until("3 pods at the edge", () => edge.pods().length === 3, 30_000);
    const running = await untilValue("3 pods Running in the apiserver", 30_000, async () => {
      const pods = await podsOnNode();
      return pods.length === 3 && pods.every((p) => p.status?.phase === "Running") ? pods : undefined;
    });
    const ready = (p: PodJson): string | undefined =>
      (p.status?.["conditions"] as { type: string; status: string }[] | undefined)?.find(
        (c) => c.type === "Ready",
      )?.status;
    expect(running.map(ready)).toEqual(["True", "True", "True"]);
    await until(
      "configmap and secret at the edge",
      () =>
        edge.store.has(`${namespace}/configmap/app-config`) &&
        edge.store.has(`${namespace}/secret/app-secret`),
      10_000,
    );
    // Referenced by 3 pods, sent once each.
    const sends = (resource: string): number =>
      edge.received.filter((m) => m.route.resource === resource).length;
    expect(sends(`${namespace}/configmap/app-config`)).toBe(1);
    expect(sends(`${namespace}/secret/app-secret`)).toBe(1);
    // Nothing leaks: not the unreferenced secret, and nothing of this namespace to the other node.
    expect(edge.store.has(`${namespace}/secret/unrelated-secret`)).toBe(false);
    expect([...other.store.keys()]).toEqual([`null/node/${otherNode}`]);
    // The pods went down without status (the edge owns status) and with their resourceVersion.
    const first = edge.received.find((m) => m.route.resource?.startsWith(`${namespace}/pod/`));
    expect((first?.content as PodJson).status).toBeUndefined();
    expect(first?.header.resourceversion).toMatch(/^\d+$/);
  });

  it("sends a ConfigMap update to the node, and refuses a query for a secret no pod there uses", async () => {
    await rest.request("patch", `/api/v1/namespaces/${namespace}/configmaps/app-config`, {
      body: { data: { greeting: "bonjour" } },
      contentType: "application/merge-patch+json",
    });
    await until(
      "updated configmap at the edge",
      () => {
        const cm = edge.store.get(`${namespace}/configmap/app-config`)?.content as
          { data?: Record<string, string> } | undefined;
        return cm?.data?.["greeting"] === "bonjour";
      },
      10_000,
    );
    const allowed = await edge.request("query", `${namespace}/secret/app-secret`, null);
    expect((allowed.content as KubeObject).metadata?.name).toBe("app-secret");
    const refused = await edge.request("query", `${namespace}/secret/unrelated-secret`, null);
    expect(refused.content).toMatchObject({ ErrStatus: { code: 403, reason: "Forbidden" } });
    const foreign = await other.request("query", `${namespace}/configmap/app-config`, null);
    expect(foreign.content).toMatchObject({ ErrStatus: { code: 403 } });
    const notMine = await other.request(
      "patch",
      `${namespace}/podpatch/${(await podsOnNode())[0]?.metadata?.name ?? ""}`,
      "{}",
    );
    expect(notMine.content).toMatchObject({ Err: { ErrStatus: { code: 403 } } });
  });

  it("mints a service account token only for a pod on the asking node, and writes legacy status updates", async () => {
    const [first] = await podsOnNode();
    const podName = first?.metadata?.name ?? "";
    const tokenRequest = (name: string, uid: string | undefined): unknown => ({
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        audiences: ["https://kubernetes.default.svc"],
        expirationSeconds: 3600,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name, uid },
      },
    });
    const minted = await edge.request(
      "query",
      `${namespace}/serviceaccounttoken/default`,
      tokenRequest(podName, first?.metadata?.uid),
    );
    expect((minted.content as { status?: { token?: string } }).status?.token).toMatch(/^ey/);
    const foreign = await other.request(
      "query",
      `${namespace}/serviceaccounttoken/default`,
      tokenRequest(podName, first?.metadata?.uid),
    );
    expect(foreign.content).toMatchObject({ ErrStatus: { code: 403 } });

    // KubeEdge's older edges send whole statuses (`podstatus`, `nodestatus`) instead of patches.
    const legacy = await edge.request("update", `${namespace}/podstatus/${podName}`, {
      UID: first?.metadata?.uid,
      Name: podName,
      Status: { ...(first?.status ?? {}), message: "legacy status" },
    });
    expect(legacy.content).toBe("OK");
    expect((await pod(podName)).status?.["message"]).toBe("legacy status");
    const wrongUid = await edge.request("update", `${namespace}/podstatus/${podName}`, {
      UID: "not-the-uid",
      Status: {},
    });
    expect(wrongUid.content).toMatchObject({ ErrStatus: { code: 409 } });
    const nodeStatus = (await node()).status ?? {};
    const legacyNode = await edge.request("update", `null/nodestatus/${nodeName}`, {
      UID: "",
      Status: { ...nodeStatus, capacity: { ...nodeStatus.capacity, pods: "111" } },
    });
    expect(legacyNode.content).toBe("OK");
    expect((await node()).status?.capacity?.["pods"]).toBe("111");
  });

  it("keeps an offline node Ready with a NoSchedule taint and no eviction, then catches it up, deletions included", async () => {
    const before = (await podsOnNode()).map((p) => p.metadata?.name ?? "").sort();
    await edge.close();
    const tainted = await untilValue("offline taint", 15_000, async () => {
      const n = await node();
      return n.spec?.taints?.some((t) => t.key === OFFLINE_TAINT.key) &&
        condition(n, TUNNEL_CONDITION) === "False"
        ? n
        : undefined;
    });
    expect(condition(tainted, "Ready")).toBe("True");
    // While it is away: one pod is force-deleted and the ConfigMap changes. The replacement pod
    // stays Pending: the taint keeps it off the node.
    const gone = before[0] ?? "";
    await rest.request("delete", `/api/v1/namespaces/${namespace}/pods/${gone}`, {
      body: { gracePeriodSeconds: 0 },
    });
    await rest.request("patch", `/api/v1/namespaces/${namespace}/configmaps/app-config`, {
      body: { data: { greeting: "hola" } },
      contentType: "application/merge-patch+json",
    });
    // Past the controller-manager's 10 s node-monitor grace period plus the pods' 2 s tolerations.
    await sleep(14_000);
    const offline = await node();
    expect(condition(offline, "Ready")).toBe("True");
    expect(offline.spec?.taints?.filter((t) => t.effect === "NoExecute") ?? []).toEqual([]);
    const survivors = (await podsOnNode()).map((p) => p.metadata?.name ?? "").sort();
    expect(survivors).toEqual(before.filter((n) => n !== gone));

    // The edge comes back (a new tunnel; what it receives now is only what the cloud resends).
    edge = newEdge(nodeName, credentials);
    await edge.start();
    // A restarted edgecore registers again (the Node exists: updated, not an error) and renews its lease.
    expect((await edge.register()).content).toMatchObject({ Err: null });
    await until(
      "catch-up",
      () => {
        const got = messagesAfter(edge, 0);
        return (
          got.includes(`delete ${namespace}/pod/${gone}`) &&
          got.includes(`update ${namespace}/configmap/app-config`)
        );
      },
      15_000,
    );
    await untilValue("taint cleared on reconnect", 15_000, async () => {
      const n = await node();
      return !n.spec?.taints?.some((t) => t.key === OFFLINE_TAINT.key) &&
        condition(n, TUNNEL_CONDITION) === "True"
        ? n
        : undefined;
    });
    const caughtUp = messagesAfter(edge, 0);
    // Only the difference: the surviving pods and the secret were acked and unchanged.
    for (const name of survivors) expect(caughtUp.filter((m) => m.endsWith(`/pod/${name}`))).toEqual([]);
    expect(caughtUp.filter((m) => m.includes("/secret/"))).toEqual([]);
    expect(caughtUp.filter((m) => m.startsWith("delete"))).toEqual([`delete ${namespace}/pod/${gone}`]);
    expect(
      (edge.store.get(`${namespace}/configmap/app-config`)?.content as { data?: Record<string, string> })
        .data,
    ).toEqual({ greeting: "hola" });
  }, 60_000);

  it("after a cloudcore restart resends nothing the edge already acked", async () => {
    await until("edge in sync", () => cloudcore.hub.delivery.pending(nodeName) === 0, 15_000);
    await cloudcore.close();
    const mark = edge.received.length;
    cloudcore = await startCloudcore();
    await until("edge reconnected", () => cloudcore.hub.sessions.get(nodeName) !== undefined, 20_000);
    await sleep(2000);
    expect(messagesAfter(edge, mark)).toEqual([]);
    // A change after the restart still flows.
    await rest.request("patch", `/api/v1/namespaces/${namespace}/configmaps/app-config`, {
      body: { data: { greeting: "hallo" } },
      contentType: "application/merge-patch+json",
    });
    await until(
      "post-restart update",
      () => messagesAfter(edge, mark).includes(`update ${namespace}/configmap/app-config`),
      10_000,
    );
  }, 60_000);

  it("deleting the Deployment removes the pods at the edge and in the apiserver, and their objects from the node", async () => {
    await rest.request("delete", `/apis/apps/v1/namespaces/${namespace}/deployments/web`, {
      body: { propagationPolicy: "Foreground" },
    });
    await until("no pods at the edge", () => edge.pods().length === 0, 30_000);
    await untilValue("no pods in the apiserver", 30_000, async () =>
      (await podsOnNode()).length === 0 ? true : undefined,
    );
    await until(
      "configmap and secret removed from the node",
      () =>
        !edge.store.has(`${namespace}/configmap/app-config`) &&
        !edge.store.has(`${namespace}/secret/app-secret`),
      10_000,
    );
    await expect(pod("none")).rejects.toSatisfy((err: unknown) => statusCodeOf(err) === 404);
  }, 60_000);

  it("writes Lease renewals queued behind each other once, and answers every one of them", async () => {
    const metric = async (pattern: RegExp): Promise<number> => {
      const text = await (await fetch(`http://127.0.0.1:${cloudcore.metricsPort ?? 0}/metrics`)).text();
      return Number(pattern.exec(text)?.[1] ?? 0);
    };
    const leaseWrites =
      /edgefleet_apiserver_request_duration_seconds_count\{verb="update",resource="leases",code="200"\} (\d+)/;
    const coalesced = /edgefleet_upstream_coalesced_total\{type="lease"\} (\d+)/;
    const writesBefore = await metric(leaseWrites);
    const coalescedBefore = await metric(coalesced);
    // Six renewals at once: the first is written at once, the other five wait behind it and are
    // written as one (the newest), which answers all five.
    const replies = await Promise.all(Array.from({ length: 6 }, () => edge.renewLease()));
    for (const reply of replies) {
      expect(reply.route.operation).toBe("response");
      expect((reply.content as { Err: unknown }).Err).toBeNull();
    }
    expect(new Set(replies.map((r) => r.header.msg_id)).size).toBe(6);
    expect((await metric(coalesced)) - coalescedBefore).toBeGreaterThanOrEqual(4);
    // The edge's heartbeats meanwhile may add a write of their own; six would be one per request.
    expect((await metric(leaseWrites)) - writesBefore).toBeLessThanOrEqual(3);
  });

  it("exports watch, apiserver latency and sync lag metrics", async () => {
    const text = await (await fetch(`http://127.0.0.1:${cloudcore.metricsPort ?? 0}/metrics`)).text();
    expect(text).toMatch(/edgefleet_watch_events_total\{resource="configmaps",type="ADDED"\} \d+/);
    expect(text).toMatch(
      /edgefleet_apiserver_request_duration_seconds_count\{verb="update",resource="leases",code="200"\} \d+/,
    );
    expect(text).toMatch(
      /edgefleet_upstream_requests_total\{type="lease",operation="update",result="ok"\} \d+/,
    );
    expect(text).toContain("# TYPE edgefleet_node_sync_lag_seconds gauge");
  });
});
