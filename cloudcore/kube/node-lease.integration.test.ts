import { randomBytes } from "node:crypto";
import { KubeConfig } from "@kubernetes/client-node";
import { Histogram, Registry } from "prom-client";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { KubeRest } from "./kube-rest.js";
import { leasePath, writeNodeLease } from "./node-lease.js";

const env = inject("env");

describe("node Lease writes on the real apiserver", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const node = `lease-${randomBytes(3).toString("hex")}`;
  const registry = new Registry();
  const latency = new Histogram({
    name: "test_apiserver_seconds",
    help: "requests",
    labelNames: ["verb", "resource", "code"],
    registers: [registry],
  });
  let rest: KubeRest;
  let other: KubeRest;

  /** Requests by verb since the last call. */
  let seen = new Map<string, number>();
  const requests = async (): Promise<Record<string, number>> => {
    const now = new Map<string, number>();
    for (const v of (await latency.get()).values)
      if (v.metricName === "test_apiserver_seconds_count") {
        const key = `${String(v.labels["verb"])} ${String(v.labels["code"])}`;
        now.set(key, (now.get(key) ?? 0) + v.value);
      }
    const delta: Record<string, number> = {};
    for (const [k, n] of now) if (n - (seen.get(k) ?? 0) > 0) delta[k] = n - (seen.get(k) ?? 0);
    seen = now;
    return delta;
  };
  const spec = (renewTime: string) => () => ({ holderIdentity: node, leaseDurationSeconds: 40, renewTime });

  beforeAll(async () => {
    rest = await KubeRest.create(kc, latency);
    other = await KubeRest.create(kc);
  });
  afterAll(async () => {
    await other.request("delete", leasePath(node)).catch(() => undefined);
    rest.close();
    other.close();
  });

  it("renews with one PUT once it knows the Lease, and falls back to a fresh read when someone else wrote or deleted it", async () => {
    await writeNodeLease(rest, node, spec("2026-01-01T00:00:00.000000Z"));
    expect(await requests()).toEqual({ "get 404": 1, "create 201": 1 });

    await writeNodeLease(rest, node, spec("2026-01-01T00:00:10.000000Z"));
    expect(await requests()).toEqual({ "update 200": 1 });

    // Another writer (cloudcore on another replica, say) moves the Lease on.
    const current = await other.get(leasePath(node));
    await other.request("update", leasePath(node), {
      body: {
        ...current,
        spec: { ...(current["spec"] as object), renewTime: "2026-01-01T00:00:15.000000Z" },
      },
    });
    await writeNodeLease(rest, node, spec("2026-01-01T00:00:20.000000Z"));
    expect(await requests()).toEqual({ "update 409": 1, "get 200": 1, "update 200": 1 });
    expect(((await other.get(leasePath(node)))["spec"] as { renewTime: string }).renewTime).toBe(
      "2026-01-01T00:00:20.000000Z",
    );

    await other.request("delete", leasePath(node));
    await writeNodeLease(rest, node, spec("2026-01-01T00:00:30.000000Z"));
    // A PUT with the old resourceVersion of a deleted Lease is a conflict, not a 404.
    expect(await requests()).toEqual({ "update 409": 1, "get 404": 1, "create 201": 1 });
  });
});
