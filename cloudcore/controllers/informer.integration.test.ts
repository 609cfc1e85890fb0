import { randomBytes } from "node:crypto";
import { CoreV1Api, KubeConfig, type V1ConfigMap } from "@kubernetes/client-node";
import { pino } from "pino";
import { until } from "../../test/until.js";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Informer, type InformerEvent } from "./informer.js";

const env = inject("env");

describe("informer on the real apiserver", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = `informer-${randomBytes(3).toString("hex")}`;
  const informers: Informer<V1ConfigMap>[] = [];

  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  afterAll(async () => {
    await Promise.all(informers.map((i) => i.stop()));
    await core.deleteNamespace({ name: namespace });
  });

  const listOurs = async (): Promise<{ items: V1ConfigMap[]; resourceVersion: string }> => {
    const list = await core.listNamespacedConfigMap({ namespace, labelSelector: "test=informer" });
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  };

  const informer = (
    list: () => Promise<{ items: V1ConfigMap[]; resourceVersion: string }>,
    events: string[],
  ): Informer<V1ConfigMap> => {
    const i = new Informer<V1ConfigMap>({
      kubeConfig: kc,
      path: `/api/v1/namespaces/${namespace}/configmaps`,
      query: { labelSelector: "test=informer" },
      list,
      onEvent: (type: InformerEvent, cm) =>
        events.push(`${type} ${cm.metadata?.name}=${cm.data?.["v"] ?? ""}`),
      backoff: { initialMs: 50, maxMs: 200 },
      log: pino({ level: "silent" }),
    });
    informers.push(i);
    i.start();
    return i;
  };

  const configMap = (name: string, v: string): V1ConfigMap => ({
    metadata: { name, labels: { test: "informer" } },
    data: { v },
  });

  it("lists what exists, then sees additions, updates and deletions; the cache follows", async () => {
    await core.createNamespacedConfigMap({ namespace, body: configMap("a", "1") });
    const events: string[] = [];
    const inf = informer(listOurs, events);
    await inf.synced;
    expect(events).toEqual(["ADDED a=1"]);
    await core.createNamespacedConfigMap({ namespace, body: configMap("b", "1") });
    await core.replaceNamespacedConfigMap({ namespace, name: "a", body: configMap("a", "2") });
    await core.deleteNamespacedConfigMap({ namespace, name: "b" });
    await until("three watch events", () => events.length === 4, 10000);
    expect(events).toEqual(["ADDED a=1", "ADDED b=1", "MODIFIED a=2", "DELETED b=1"]);
    expect(inf.list().map((cm) => cm.data?.["v"])).toEqual(["2"]);
    expect(inf.get(namespace, "a")?.data?.["v"]).toBe("2");
  });

  it("retries a failing list with backoff and recovers", async () => {
    let calls = 0;
    const events: string[] = [];
    const statuses: string[] = [];
    const inf = informer(async () => {
      calls++;
      if (calls <= 2) throw new Error("apiserver unavailable");
      return listOurs();
    }, events);
    const poll = setInterval(() => statuses.push(inf.status.type), 5);
    await inf.synced;
    clearInterval(poll);
    expect(calls).toBe(3);
    expect(statuses).toContain("waiting");
    expect(events.some((e) => e.startsWith("ADDED a="))).toBe(true);
  });
});
