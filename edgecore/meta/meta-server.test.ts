import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Group, Operation, Source } from "../../protocol/constants.js";
import { newMessage, type Message } from "../../protocol/message.js";
import { createEdgecoreMetrics } from "../metrics.js";
import { openEdgeDatabase, type SqliteDatabase } from "./database.js";
import { MetaManager } from "./meta-manager.js";
import { MetaServer } from "./meta-server.js";
import { MetaStore } from "./meta-store.js";

const log = pino({ level: "silent" });

function cloudMessage(operation: string, resource: string, content: unknown, rv?: string): Message {
  return newMessage({
    source: Source.EdgeController,
    group: Group.Resource,
    operation,
    resource,
    content,
    ...(rv !== undefined && { resourceVersion: rv }),
  });
}

const podObject = (name: string, labels: Record<string, string> = {}, uid = `uid-${name}`): unknown => ({
  apiVersion: "v1",
  kind: "Pod",
  metadata: { name, namespace: "apps", uid, labels, resourceVersion: "100" },
  spec: { nodeName: "edge-1", containers: [{ name: "c", image: "busybox" }] },
});

/** Reads a watch stream's JSON lines until `count` events arrived. */
async function readEvents(
  url: string,
  count: number,
): Promise<{ type: string; object: { metadata: { name: string; resourceVersion: string } } }[]> {
  const controller = new AbortController();
  const res = await fetch(url, { signal: controller.signal });
  if (!res.body) throw new Error("watch response has no body");
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  const events: { type: string; object: { metadata: { name: string; resourceVersion: string } } }[] = [];
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      events.push(JSON.parse(buffer.slice(0, nl)));
      buffer = buffer.slice(nl + 1);
    }
  }
  controller.abort();
  return events;
}

describe("MetaManager and MetaServer", () => {
  let dir: string;
  let db: SqliteDatabase;
  let meta: MetaManager;
  let server: MetaServer;
  const sent: Message[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "edgefleet-metaserver-"));
    db = openEdgeDatabase(join(dir, "edgecore.db"));
    sent.length = 0;
    meta = new MetaManager(
      new MetaStore(db),
      { send: (m) => (sent.push(m), true) },
      createEdgecoreMetrics(),
      log,
    );
    server = new MetaServer({ meta, port: 0, log });
    await server.start();
  });
  afterEach(async () => {
    await server.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("acks a cloud object after storing it, with the cloud message as parent", () => {
    const message = cloudMessage(Operation.Insert, "apps/pod/web", podObject("web"), "100");
    meta.handle(message);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      header: { parent_msg_id: message.header.msg_id },
      route: { operation: "response", resource: "apps/pod/web", source: "edgecontroller" },
      content: "OK",
    });
    expect(meta.store.get("apps/pod/web")).toBeDefined();
  });

  it("drops its own copy of a pod whose deletion it confirmed, but not a recreated pod of that name", () => {
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/web", podObject("web", {}, "uid-1"), "100"));
    const events: string[] = [];
    meta.subscribe((e) => events.push(`${e.type} ${e.object.name}`));
    meta.removeLocal("apps/pod/web", "uid-0");
    expect(meta.store.get("apps/pod/web")).toBeDefined();
    meta.removeLocal("apps/pod/web", "uid-1");
    expect(meta.store.get("apps/pod/web")).toBeUndefined();
    expect(events).toEqual(["DELETED web"]);
  });

  it("answers an invalid object with an error naming the field and stores nothing", () => {
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/web", { metadata: { name: 7 } }, "1"));
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/web", podObject("other"), "1"));
    expect(sent.map((m) => m.route.operation)).toEqual(["error", "error"]);
    expect(sent[0]?.content).toMatch(/content\.metadata\.name/);
    expect(sent[1]?.content).toMatch(/does not match resource name/);
    expect(meta.store.revision).toBe(0);
  });

  it("lists pods across and within namespaces with label selectors, served with the store's revision", async () => {
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/web", podObject("web", { app: "web" }), "100"));
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/db", podObject("db", { app: "db" }), "101"));
    const all = (await (await fetch(`${server.url}/api/v1/pods`)).json()) as {
      kind: string;
      metadata: { resourceVersion: string };
      items: { metadata: { name: string; resourceVersion: string } }[];
    };
    expect(all.kind).toBe("PodList");
    expect(all.metadata.resourceVersion).toBe("2");
    expect(all.items.map((p) => [p.metadata.name, p.metadata.resourceVersion])).toEqual([
      ["db", "2"],
      ["web", "1"],
    ]);
    const web = (await (
      await fetch(`${server.url}/api/v1/namespaces/apps/pods?labelSelector=app%3Dweb`)
    ).json()) as { items: unknown[] };
    expect(web.items).toHaveLength(1);
    const none = (await (await fetch(`${server.url}/api/v1/namespaces/other/pods`)).json()) as {
      items: unknown[];
    };
    expect(none.items).toHaveLength(0);
  });

  it("gets one object, and answers 404 with a Status for a missing one", async () => {
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/web", podObject("web"), "100"));
    const ok = await fetch(`${server.url}/api/v1/namespaces/apps/pods/web`);
    expect(ok.status).toBe(200);
    const missing = await fetch(`${server.url}/api/v1/namespaces/apps/pods/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ kind: "Status", reason: "NotFound", code: 404 });
  });

  it("watches from a list's resourceVersion: later changes only, deletes included", async () => {
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/web", podObject("web"), "100"));
    const list = (await (await fetch(`${server.url}/api/v1/namespaces/apps/pods`)).json()) as {
      metadata: { resourceVersion: string };
    };
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/db", podObject("db"), "101"));
    meta.handle(
      cloudMessage(
        Operation.Insert,
        "apps/configmap/cfg",
        { metadata: { name: "cfg", namespace: "apps" } },
        "102",
      ),
    );
    const events = readEvents(
      `${server.url}/api/v1/namespaces/apps/pods?watch=true&resourceVersion=${list.metadata.resourceVersion}`,
      3,
    );
    await new Promise((r) => setTimeout(r, 50));
    meta.handle(cloudMessage(Operation.Delete, "apps/pod/web", podObject("web"), "103"));
    meta.handle(cloudMessage(Operation.Update, "apps/pod/db", podObject("db"), "104"));
    expect(
      (await events).map((e) => `${e.type} ${e.object.metadata.name} ${e.object.metadata.resourceVersion}`),
    ).toEqual(["ADDED db 2", "DELETED web 4", "MODIFIED db 5"]);
  });

  it("answers a watch from a resourceVersion it no longer holds with 410 Expired", async () => {
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/web", podObject("web"), "100"));
    meta.handle(cloudMessage(Operation.Insert, "apps/pod/db", podObject("db"), "101"));
    // A new server's history starts at the store's revision, as after an edgecore restart.
    const restarted = new MetaServer({ meta, port: 0, log });
    await restarted.start();
    try {
      const [expired] = await readEvents(`${restarted.url}/api/v1/pods?watch=true&resourceVersion=1`, 1);
      expect(expired).toMatchObject({ type: "ERROR", object: { code: 410, reason: "Expired" } });
      const current = await readEvents(`${restarted.url}/api/v1/pods?watch=true&resourceVersion=2`, 0);
      expect(current).toEqual([]);
    } finally {
      await restarted.stop();
    }
  });

  it("refuses writes and bad selectors with Status errors", async () => {
    const post = await fetch(`${server.url}/api/v1/namespaces/apps/pods`, { method: "POST", body: "{}" });
    expect(post.status).toBe(405);
    const bad = await fetch(`${server.url}/api/v1/pods?fieldSelector=spec.bogus%3D1`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/fieldSelector: field "spec.bogus"/);
  });

  it("serves discovery so kubectl can find the resources", async () => {
    const core = (await (await fetch(`${server.url}/api/v1`)).json()) as { resources: { name: string }[] };
    expect(core.resources.map((r) => r.name)).toEqual(
      expect.arrayContaining(["pods", "configmaps", "nodes"]),
    );
    const groups = (await (await fetch(`${server.url}/apis`)).json()) as { groups: { name: string }[] };
    expect(groups.groups.map((g) => g.name)).toContain("devices.kubeedge.io");
  });
});
