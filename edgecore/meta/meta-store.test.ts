import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { migrate, openEdgeDatabase, SchemaTooNewError, type SqliteDatabase } from "./database.js";
import { compareResourceVersions, MetaStore, type ObjectChange } from "./meta-store.js";

const pod = (name: string, uid: string, rv: string, extra: Record<string, unknown> = {}): ObjectChange => ({
  operation: "insert",
  namespace: "default",
  type: "pod",
  name,
  object: {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "default", uid, resourceVersion: rv },
    ...extra,
  },
  cloudResourceVersion: rv,
});

describe("MetaStore", () => {
  const dirs: string[] = [];
  const dbs: SqliteDatabase[] = [];
  const open = (
    dir = mkdtempSync(join(tmpdir(), "edgefleet-meta-")),
  ): { db: SqliteDatabase; dir: string } => {
    dirs.push(dir);
    const db = openEdgeDatabase(join(dir, "edgecore.db"));
    dbs.push(db);
    return { db, dir };
  };
  afterEach(() => {
    for (const db of dbs.splice(0)) if (db.open) db.close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("stores an object and reads it back after the database is reopened", () => {
    const { db, dir } = open();
    const store = new MetaStore(db);
    expect(store.apply(pod("web", "u1", "10"))?.type).toBe("ADDED");
    db.close();
    const again = new MetaStore(open(dir).db);
    const stored = again.get("default/pod/web");
    expect(stored?.object.metadata?.uid).toBe("u1");
    expect(stored?.cloudResourceVersion).toBe("10");
    expect(again.revision).toBe(1);
  });

  it("advances one revision per change, across kinds", () => {
    const store = new MetaStore(open().db);
    store.apply(pod("a", "u1", "5"));
    store.apply({ ...pod("b", "u2", "6"), type: "configmap" });
    const event = store.apply({ ...pod("a", "u1", "7"), operation: "update" });
    expect(event).toMatchObject({ type: "MODIFIED", object: { revision: 3 } });
    expect(store.list("pod").map((s) => s.name)).toEqual(["a"]);
    expect(store.list("configmap", "default").map((s) => s.name)).toEqual(["b"]);
  });

  it("ignores an older resourceVersion of the same object and keeps the newer copy", () => {
    const store = new MetaStore(open().db);
    store.apply(pod("web", "u1", "20", { spec: { v: "new" } }));
    expect(
      store.apply({ ...pod("web", "u1", "9", { spec: { v: "old" } }), operation: "update" }),
    ).toBeUndefined();
    expect(store.get("default/pod/web")?.object["spec"]).toEqual({ v: "new" });
    expect(store.revision).toBe(1);
  });

  it("replaces an object recreated under the same name even with a lower resourceVersion", () => {
    const store = new MetaStore(open().db);
    store.apply(pod("web", "u1", "20"));
    expect(store.apply(pod("web", "u2", "15"))?.type).toBe("MODIFIED");
    expect(store.get("default/pod/web")?.object.metadata?.uid).toBe("u2");
  });

  it("does not delete a recreated object when the delete names the old UID", () => {
    const store = new MetaStore(open().db);
    store.apply(pod("web", "u2", "30"));
    expect(store.apply({ ...pod("web", "u1", "25"), operation: "delete" })).toBeUndefined();
    expect(store.get("default/pod/web")).toBeDefined();
    const deleted = store.apply({ ...pod("web", "u2", "31"), operation: "delete" });
    expect(deleted).toMatchObject({ type: "DELETED", object: { revision: 2 } });
    expect(store.get("default/pod/web")).toBeUndefined();
  });

  it("records the node's own status on the stored object", () => {
    const store = new MetaStore(open().db);
    store.apply(pod("web", "u1", "1", { status: { phase: "Pending" } }));
    const event = store.setLocalStatus("default/pod/web", { phase: "Running" });
    expect(event?.object.object["status"]).toEqual({ phase: "Running" });
    expect(store.setLocalStatus("default/pod/missing", {})).toBeUndefined();
  });

  it("refuses a database whose schema is newer than this edgecore", () => {
    const { db } = open();
    new MetaStore(db);
    db.prepare("UPDATE schema_migrations SET version = 99 WHERE module = 'metamanager'").run();
    expect(() => new MetaStore(db)).toThrow(SchemaTooNewError);
  });

  it("applies each migration step once, in order", () => {
    const { db } = open();
    migrate(db, { module: "m", migrations: ["CREATE TABLE t (a INTEGER)"] });
    migrate(db, {
      module: "m",
      migrations: ["CREATE TABLE t (a INTEGER)", "ALTER TABLE t ADD COLUMN b TEXT"],
    });
    expect(db.prepare("SELECT version FROM schema_migrations WHERE module = 'm'").get()).toEqual({
      version: 2,
    });
    expect(db.pragma("table_info(t)", { simple: false })).toHaveLength(2);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
  });

  it("compares resourceVersions as numbers, and not at all when they are not numbers", () => {
    expect(compareResourceVersions("9", "10")).toBe(-1);
    expect(compareResourceVersions("100000000000000000000", "99")).toBe(1);
    expect(compareResourceVersions("abc", "1")).toBeUndefined();
    expect(compareResourceVersions(undefined, "1")).toBeUndefined();
  });
});
