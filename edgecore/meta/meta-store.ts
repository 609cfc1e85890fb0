import type { Statement } from "better-sqlite3";
import { migrate, type SqliteDatabase } from "./database.js";

/** A Kubernetes object as JSON: only metadata is read here. */
export interface ObjectJson {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** One object the node holds, keyed by its wire resource `<namespace>/<type>/<name>`. */
export interface StoredObject {
  readonly resource: string;
  /** Namespace, `null` for cluster-scoped objects (as on the wire). */
  readonly namespace: string;
  readonly type: string;
  readonly name: string;
  /** The store's revision at this object's last change: what the MetaServer serves as resourceVersion. */
  readonly revision: number;
  /** The apiserver's resourceVersion of the copy the cloud sent (header.resourceversion). */
  readonly cloudResourceVersion: string | undefined;
  readonly object: ObjectJson;
}

export type StoreEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface StoreEvent {
  readonly type: StoreEventType;
  readonly object: StoredObject;
}

export interface ObjectChange {
  readonly operation: "insert" | "update" | "delete";
  readonly namespace: string;
  readonly type: string;
  readonly name: string;
  /** The object (for deletes, the cloud's last copy or a stub with namespace, name and uid). */
  readonly object: ObjectJson;
  readonly cloudResourceVersion?: string;
}

const SCHEMA = {
  module: "metamanager",
  migrations: [
    `CREATE TABLE meta (
       resource TEXT PRIMARY KEY,
       namespace TEXT NOT NULL,
       type TEXT NOT NULL,
       name TEXT NOT NULL,
       uid TEXT,
       cloud_resource_version TEXT,
       revision INTEGER NOT NULL,
       value TEXT NOT NULL
     );
     CREATE INDEX meta_by_type ON meta (type, namespace);
     CREATE TABLE meta_revision (id INTEGER PRIMARY KEY CHECK (id = 1), revision INTEGER NOT NULL);
     INSERT INTO meta_revision (id, revision) VALUES (1, 0);`,
  ],
} as const;

interface Row {
  resource: string;
  namespace: string;
  type: string;
  name: string;
  uid: string | null;
  cloud_resource_version: string | null;
  revision: number;
  value: string;
}

/** Numeric compare of apiserver resourceVersions (etcd revisions); undefined when either is not a number. */
export function compareResourceVersions(a: string | undefined, b: string | undefined): number | undefined {
  if (a === undefined || b === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return undefined;
  const x = BigInt(a);
  const y = BigInt(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * MetaManager's store: the node's copy of every object the cloud sent, in SQLite. Each change is
 * one transaction that also advances the store's revision, so after a crash an object is either
 * wholly the old copy or wholly the new one, and revisions never repeat.
 */
export class MetaStore {
  readonly #db: SqliteDatabase;
  readonly #get: Statement<[string], Row>;
  readonly #upsert: Statement<[Row]>;
  readonly #delete: Statement<[string]>;
  readonly #bump: Statement<[]>;
  readonly #readRevision: Statement<[], { revision: number }>;
  readonly #byType: Statement<[string], Row>;
  readonly #byTypeNs: Statement<[string, string], Row>;

  constructor(db: SqliteDatabase) {
    migrate(db, SCHEMA);
    this.#db = db;
    this.#get = db.prepare("SELECT * FROM meta WHERE resource = ?");
    this.#upsert = db.prepare(
      `INSERT INTO meta (resource, namespace, type, name, uid, cloud_resource_version, revision, value)
       VALUES (@resource, @namespace, @type, @name, @uid, @cloud_resource_version, @revision, @value)
       ON CONFLICT(resource) DO UPDATE SET uid = excluded.uid,
         cloud_resource_version = excluded.cloud_resource_version, revision = excluded.revision,
         value = excluded.value`,
    );
    this.#delete = db.prepare("DELETE FROM meta WHERE resource = ?");
    this.#bump = db.prepare("UPDATE meta_revision SET revision = revision + 1 WHERE id = 1");
    this.#readRevision = db.prepare("SELECT revision FROM meta_revision WHERE id = 1");
    this.#byType = db.prepare("SELECT * FROM meta WHERE type = ? ORDER BY resource");
    this.#byTypeNs = db.prepare("SELECT * FROM meta WHERE type = ? AND namespace = ? ORDER BY resource");
  }

  /** The revision of the latest change. */
  get revision(): number {
    return this.#readRevision.get()?.revision ?? 0;
  }

  get(resource: string): StoredObject | undefined {
    const row = this.#get.get(resource);
    return row && toStored(row);
  }

  list(type: string, namespace?: string): StoredObject[] {
    const rows = namespace === undefined ? this.#byType.all(type) : this.#byTypeNs.all(type, namespace);
    return rows.map(toStored);
  }

  /**
   * Applies one change from the cloud in one transaction. Returns the resulting event, or undefined
   * when the change is stale and nothing was written: an older resourceVersion of the same object,
   * or a delete of an object that has since been recreated (another UID).
   */
  apply(change: ObjectChange): StoreEvent | undefined {
    return this.#db.transaction((): StoreEvent | undefined => {
      const resource = `${change.namespace}/${change.type}/${change.name}`;
      const before = this.#get.get(resource);
      const uid = change.object.metadata?.uid;
      const sameObject =
        before !== undefined && (uid === undefined || before.uid === null || before.uid === uid);
      if (change.operation === "delete") {
        if (!before || !sameObject) return undefined;
        this.#delete.run(resource);
        this.#bump.run();
        return { type: "DELETED", object: { ...toStored(before), revision: this.revision } };
      }
      const rv = change.cloudResourceVersion ?? change.object.metadata?.resourceVersion;
      if (
        before &&
        sameObject &&
        (compareResourceVersions(rv, before.cloud_resource_version ?? undefined) ?? 1) < 0
      )
        return undefined;
      this.#bump.run();
      const row: Row = {
        resource,
        namespace: change.namespace,
        type: change.type,
        name: change.name,
        uid: uid ?? null,
        cloud_resource_version: rv ?? null,
        revision: this.revision,
        value: JSON.stringify(change.object),
      };
      this.#upsert.run(row);
      return { type: before ? "MODIFIED" : "ADDED", object: toStored(row) };
    })();
  }

  /**
   * Replaces the stored object's status with what this node observed (edged's pod status), so the
   * local copy and the MetaServer show the node's view even while the cloud is unreachable.
   * Returns the event, or undefined if the object is not held.
   */
  setLocalStatus(resource: string, status: unknown): StoreEvent | undefined {
    return this.#db.transaction((): StoreEvent | undefined => {
      const before = this.#get.get(resource);
      if (!before) return undefined;
      const object = JSON.parse(before.value) as ObjectJson;
      this.#bump.run();
      const row: Row = { ...before, revision: this.revision, value: JSON.stringify({ ...object, status }) };
      this.#upsert.run(row);
      return { type: "MODIFIED", object: toStored(row) };
    })();
  }
}

function toStored(row: Row): StoredObject {
  return {
    resource: row.resource,
    namespace: row.namespace,
    type: row.type,
    name: row.name,
    revision: row.revision,
    cloudResourceVersion: row.cloud_resource_version ?? undefined,
    object: JSON.parse(row.value) as ObjectJson,
  };
}
