import { CoreV1Api, KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import { pino } from "pino";
import { until } from "../../test/until.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEnvironment, type Environment } from "../../scripts/env/environment.js";
import { Informer } from "./informer.js";

/** Compacts etcd's history up to its current revision, through etcd's own HTTP gateway. */
async function compactEtcd(etcdUrl: string): Promise<void> {
  const range = await fetch(`${etcdUrl}/v3/kv/range`, {
    method: "POST",
    body: JSON.stringify({ key: Buffer.from("/").toString("base64"), limit: 1 }),
  });
  const revision = ((await range.json()) as { header: { revision: string } }).header.revision;
  const compact = await fetch(`${etcdUrl}/v3/kv/compaction`, {
    method: "POST",
    body: JSON.stringify({ revision, physical: true }),
  });
  if (!compact.ok) throw new Error(`etcd compaction failed: ${compact.status} ${await compact.text()}`);
}

// A control plane of its own: the shared apiserver's watch cache answers old resourceVersions from
// memory, so only with the cache off does a compacted resourceVersion reach etcd and come back 410.
describe("informer - 410 Gone", () => {
  let env: Environment;
  let informer: Informer<V1ConfigMap> | undefined;

  beforeAll(async () => {
    env = await startEnvironment({ components: ["kubernetes"], apiserverArgs: ["--watch-cache=false"] });
  }, 120_000);
  afterAll(async () => {
    await informer?.stop();
    await env.stop();
  });

  it("re-lists when its resourceVersion was compacted away, instead of going stale (regression: aborting before settling turned 410 into endless retries)", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.info.kubernetes?.kubeconfig ?? "");
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "a" }, data: { v: "1" } },
    });
    const stale =
      (await core.listNamespacedConfigMap({ namespace: "default" })).metadata?.resourceVersion ?? "";
    await core.replaceNamespacedConfigMap({
      namespace: "default",
      name: "a",
      body: { metadata: { name: "a" }, data: { v: "1b" } },
    });
    await core.replaceNamespacedConfigMap({
      namespace: "default",
      name: "a",
      body: { metadata: { name: "a" }, data: { v: "2" } },
    });
    // Two writes after the stale version: the compaction lies strictly past stale+1, so the watch
    // is refused with 410 instead of starting exactly at the compaction point.
    await compactEtcd(env.info.kubernetes?.etcdUrl ?? "");

    let lists = 0;
    const events: string[] = [];
    informer = new Informer<V1ConfigMap>({
      kubeConfig: kc,
      path: "/api/v1/namespaces/default/configmaps",
      // The first list hands out a resourceVersion that etcd has since compacted.
      list: async () => {
        lists++;
        const list = await core.listNamespacedConfigMap({ namespace: "default" });
        return {
          items: list.items,
          resourceVersion: lists === 1 ? stale : (list.metadata?.resourceVersion ?? ""),
        };
      },
      onEvent: (type, cm) => events.push(`${type} ${cm.metadata?.name}=${cm.data?.["v"] ?? ""}`),
      backoff: { initialMs: 50, maxMs: 200 },
      log: pino({ level: process.env["DEBUG_INFORMER"] ? "debug" : "silent" }),
    });
    informer.start();
    await informer.synced;
    await until("re-list after 410", () => lists >= 2 && informer?.status.type === "watching", 15000);
    await core.createNamespacedConfigMap({
      namespace: "default",
      body: { metadata: { name: "b" }, data: { v: "1" } },
    });
    await until("b seen", () => events.includes("ADDED b=1"), 15000);
    expect(informer.get("default", "a")?.data?.["v"]).toBe("2");
  }, 60_000);
});
