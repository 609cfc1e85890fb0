import { randomBytes } from "node:crypto";
import {
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  VersionApi,
  Watch,
  type V1ConfigMap,
  type V1Pod,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { KUBERNETES_VERSION } from "../../scripts/env/binaries.js";
import { untilValue } from "../until.js";

const env = inject("env");

function kubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  if (!env.kubernetes) throw new Error("environment started without kubernetes");
  kc.loadFromFile(env.kubernetes.kubeconfig);
  return kc;
}

describe("kubernetes control plane", () => {
  const kc = kubeConfig();
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const namespace = `env-test-${randomBytes(3).toString("hex")}`;

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  afterAll(async () => {
    await core.deleteNamespace({ name: namespace });
  });

  it("apiserver - reports the pinned version built from the Go module", async () => {
    const version = await kc.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe(KUBERNETES_VERSION);
    expect(version.major).toBe("1");
  });

  it("watch - sees a ConfigMap ADDED, MODIFIED and DELETED", async () => {
    const events: { type: string; value: string | undefined }[] = [];
    let done!: () => void;
    const sawDelete = new Promise<void>((resolve) => (done = resolve));
    const watch = new Watch(kc);
    const controller = await watch.watch(
      `/api/v1/namespaces/${namespace}/configmaps`,
      // Only our ConfigMap: the controller-manager also publishes kube-root-ca.crt into every namespace.
      { allowWatchBookmarks: true, fieldSelector: "metadata.name=cm" },
      (type: string, obj: V1ConfigMap) => {
        if (type === "BOOKMARK") return;
        events.push({ type, value: obj.data?.["k"] });
        if (type === "DELETED") done();
      },
      () => undefined,
    );
    try {
      // The watch is registered once the request is accepted; give the server a moment to start it.
      await new Promise((r) => setTimeout(r, 300));
      await core.createNamespacedConfigMap({
        namespace,
        body: { metadata: { name: "cm" }, data: { k: "1" } },
      });
      await core.patchNamespacedConfigMap({
        namespace,
        name: "cm",
        body: [{ op: "replace", path: "/data/k", value: "2" }],
      });
      await core.deleteNamespacedConfigMap({ namespace, name: "cm" });
      await Promise.race([
        sawDelete,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`events so far: ${JSON.stringify(events)}`)), 10_000),
        ),
      ]);
    } finally {
      controller.abort();
    }
    expect(events).toEqual([
      { type: "ADDED", value: "1" },
      { type: "MODIFIED", value: "2" },
      { type: "DELETED", value: "2" },
    ]);
  });

  it("controller-manager - turns a Deployment into Pods", async () => {
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 3,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: {
              containers: [
                { name: "main", image: "docker.io/edgefleet/busybox:1.35", command: ["sleep", "3600"] },
              ],
            },
          },
        },
      },
    });
    const pods = await untilValue("3 pods of the Deployment", 60_000, async () => {
      const list = await core.listNamespacedPod({ namespace, labelSelector: "app=web" });
      return list.items.length === 3 ? list.items : undefined;
    });
    for (const pod of pods) {
      const owner = pod.metadata?.ownerReferences?.[0];
      expect(owner?.kind).toBe("ReplicaSet");
      expect(owner?.name).toMatch(/^web-/);
    }
  });

  it("scheduler - binds a Pod to a Ready node that fits it", async () => {
    const nodeName = `${namespace}-node`;
    await core.createNode({
      body: {
        metadata: { name: nodeName, labels: { "edgefleet.io/test": namespace } },
        spec: { taints: [] },
      },
    });
    try {
      // A registered node with capacity and a Ready condition is all the scheduler looks at; the
      // node lifecycle controller will not taint it within this test's few seconds.
      await core.patchNodeStatus({
        name: nodeName,
        body: [
          {
            op: "add",
            path: "/status",
            value: {
              capacity: { cpu: "4", memory: "8Gi", pods: "110" },
              allocatable: { cpu: "4", memory: "8Gi", pods: "110" },
              conditions: [
                {
                  type: "Ready",
                  status: "True",
                  reason: "KubeletReady",
                  message: "test",
                  lastHeartbeatTime: new Date(),
                  lastTransitionTime: new Date(),
                },
              ],
            },
          },
        ],
      });
      await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: "scheduled" },
          spec: {
            nodeSelector: { "edgefleet.io/test": namespace },
            containers: [{ name: "main", image: "docker.io/edgefleet/busybox:1.35" }],
          },
        },
      });
      const bound: V1Pod = await untilValue("pod bound by the scheduler", 30_000, async () => {
        const pod = await core.readNamespacedPod({ namespace, name: "scheduled" });
        return pod.spec?.nodeName ? pod : undefined;
      });
      expect(bound.spec?.nodeName).toBe(nodeName);
      expect(bound.status?.conditions?.find((c) => c.type === "PodScheduled")?.status).toBe("True");
    } finally {
      await core.deleteNode({ name: nodeName });
    }
  });
});
