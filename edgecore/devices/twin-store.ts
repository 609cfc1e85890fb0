/**
 * DeviceTwin's SQLite tables: devices (membership and the cloud's Device), models, twins (desired,
 * reported, observed desired, their times and versions) and the outbox of reports waiting for the
 * cloud. Every mutation runs in one transaction; reads are plain selects.
 */
import { migrate, type ModuleSchema, type SqliteDatabase } from "../meta/database.js";
import type { DeviceModelObject, DeviceObject } from "./payloads.js";
import type { DesiredTwin, TwinRecord } from "./twin-logic.js";
import { deviceIdOf } from "./topics.js";

export const DEVICETWIN_SCHEMA: ModuleSchema = {
  module: "devicetwin",
  migrations: [
    `CREATE TABLE devicetwin_devices (
       id TEXT PRIMARY KEY,
       namespace TEXT NOT NULL,
       name TEXT NOT NULL,
       description TEXT NOT NULL DEFAULT '',
       member INTEGER NOT NULL DEFAULT 0,
       object TEXT,
       model TEXT,
       resource_version TEXT,
       state TEXT NOT NULL DEFAULT '',
       last_online TEXT NOT NULL DEFAULT '',
       updated_at INTEGER NOT NULL
     );
     CREATE INDEX devicetwin_devices_by_model ON devicetwin_devices (namespace, model);
     CREATE TABLE devicetwin_models (
       namespace TEXT NOT NULL,
       name TEXT NOT NULL,
       object TEXT NOT NULL,
       resource_version TEXT,
       PRIMARY KEY (namespace, name)
     ) WITHOUT ROWID;
     CREATE TABLE devicetwin_twins (
       device_id TEXT NOT NULL REFERENCES devicetwin_devices (id) ON DELETE CASCADE,
       property TEXT NOT NULL,
       type TEXT NOT NULL DEFAULT '',
       desired TEXT,
       desired_at INTEGER,
       desired_version INTEGER NOT NULL DEFAULT 0,
       reported TEXT,
       reported_at INTEGER,
       reported_version INTEGER NOT NULL DEFAULT 0,
       observed_desired TEXT,
       observed_desired_at INTEGER,
       PRIMARY KEY (device_id, property)
     ) WITHOUT ROWID;
     CREATE TABLE devicetwin_outbox (
       resource TEXT PRIMARY KEY,
       content TEXT NOT NULL,
       revision INTEGER NOT NULL,
       attempts INTEGER NOT NULL DEFAULT 0,
       queued_at INTEGER NOT NULL
     ) WITHOUT ROWID;`,
  ],
};

export interface DeviceRecord {
  readonly id: string;
  readonly namespace: string;
  readonly name: string;
  readonly description: string;
  /** Listed by the cloud's membership (or implied by a Device the cloud sent). */
  readonly member: boolean;
  /** The cloud's Device; null while only the membership has arrived. */
  readonly object: DeviceObject | null;
  readonly model: string | null;
  readonly state: string;
  readonly lastOnline: string;
}

export interface Member {
  readonly id: string;
  readonly name: string;
  readonly description: string;
}

/** One property of a mapper's report, checked already. */
export interface ReportedTwin {
  readonly property: string;
  readonly actual?: string;
  readonly expected?: string;
  /** The type the report names; used only for a twin the Device does not type. */
  readonly type?: string;
}

export interface TwinChange {
  readonly before: TwinRecord | null;
  readonly after: TwinRecord;
}

export interface DeviceApplied {
  readonly created: boolean;
  /** The stored Device's spec changed (its profile must be republished). */
  readonly specChanged: boolean;
  /** Twins whose desired value or type changed, or that are new. */
  readonly changes: readonly TwinChange[];
  /** Properties the Device no longer declares; their twins were deleted. */
  readonly removed: readonly string[];
}

export interface OutboxEntry {
  readonly resource: string;
  readonly content: unknown;
  readonly revision: number;
  readonly attempts: number;
}

interface DeviceRow {
  id: string;
  namespace: string;
  name: string;
  description: string;
  member: number;
  object: string | null;
  model: string | null;
  state: string;
  last_online: string;
}

interface TwinRow {
  device_id: string;
  property: string;
  type: string;
  desired: string | null;
  desired_at: number | null;
  desired_version: number;
  reported: string | null;
  reported_at: number | null;
  reported_version: number;
  observed_desired: string | null;
  observed_desired_at: number | null;
}

const toDevice = (r: DeviceRow): DeviceRecord => ({
  id: r.id,
  namespace: r.namespace,
  name: r.name,
  description: r.description,
  member: r.member === 1,
  object: r.object === null ? null : (JSON.parse(r.object) as DeviceObject),
  model: r.model,
  state: r.state,
  lastOnline: r.last_online,
});

const toTwin = (r: TwinRow): TwinRecord => ({
  deviceId: r.device_id,
  property: r.property,
  type: r.type,
  desired: r.desired,
  desiredAt: r.desired_at,
  desiredVersion: r.desired_version,
  reported: r.reported,
  reportedAt: r.reported_at,
  reportedVersion: r.reported_version,
  observedDesired: r.observed_desired,
  observedDesiredAt: r.observed_desired_at,
});

const specJson = (device: DeviceObject | null): string => JSON.stringify(device?.spec ?? null);

export class TwinStore {
  readonly #statements;

  constructor(private readonly db: SqliteDatabase) {
    migrate(db, DEVICETWIN_SCHEMA);
    this.#statements = {
      device: db.prepare<[string], DeviceRow>("SELECT * FROM devicetwin_devices WHERE id = ?"),
      devices: db.prepare<[], DeviceRow>("SELECT * FROM devicetwin_devices ORDER BY id"),
      devicesOfModel: db.prepare<[string, string], DeviceRow>(
        "SELECT * FROM devicetwin_devices WHERE namespace = ? AND model = ? ORDER BY id",
      ),
      insertDevice: db.prepare(
        `INSERT INTO devicetwin_devices (id, namespace, name, description, member, updated_at)
         VALUES (@id, @namespace, @name, @description, 1, @now)`,
      ),
      setMember: db.prepare(
        "UPDATE devicetwin_devices SET member = 1, description = @description, updated_at = @now WHERE id = @id",
      ),
      setObject: db.prepare(
        `UPDATE devicetwin_devices SET object = @object, model = @model, resource_version = @rv,
           member = 1, updated_at = @now WHERE id = @id`,
      ),
      deleteDevice: db.prepare("DELETE FROM devicetwin_devices WHERE id = ?"),
      setState: db.prepare(
        "UPDATE devicetwin_devices SET state = @state, last_online = @lastOnline, updated_at = @now WHERE id = @id",
      ),
      twins: db.prepare<[string], TwinRow>(
        "SELECT * FROM devicetwin_twins WHERE device_id = ? ORDER BY property",
      ),
      twin: db.prepare<[string, string], TwinRow>(
        "SELECT * FROM devicetwin_twins WHERE device_id = ? AND property = ?",
      ),
      insertTwin: db.prepare(
        `INSERT INTO devicetwin_twins (device_id, property, type, desired, desired_at, desired_version)
         VALUES (@id, @property, @type, @desired, @at, @version)`,
      ),
      setDesired: db.prepare(
        `UPDATE devicetwin_twins SET type = @type, desired = @desired, desired_at = @at,
           desired_version = @version WHERE device_id = @id AND property = @property`,
      ),
      setReported: db.prepare(
        `UPDATE devicetwin_twins SET type = @type, reported = @reported, reported_at = @reportedAt,
           reported_version = @reportedVersion, observed_desired = @observed, observed_desired_at = @observedAt
         WHERE device_id = @id AND property = @property`,
      ),
      deleteTwin: db.prepare("DELETE FROM devicetwin_twins WHERE device_id = ? AND property = ?"),
      model: db.prepare<[string, string], { object: string }>(
        "SELECT object FROM devicetwin_models WHERE namespace = ? AND name = ?",
      ),
      putModel: db.prepare(
        `INSERT INTO devicetwin_models (namespace, name, object, resource_version) VALUES (@ns, @name, @object, @rv)
         ON CONFLICT (namespace, name) DO UPDATE SET object = excluded.object, resource_version = excluded.resource_version`,
      ),
      deleteModel: db.prepare("DELETE FROM devicetwin_models WHERE namespace = ? AND name = ?"),
      outboxEntry: db.prepare<[string], { content: string; revision: number }>(
        "SELECT content, revision FROM devicetwin_outbox WHERE resource = ?",
      ),
      outboxInsert: db.prepare(
        "INSERT INTO devicetwin_outbox (resource, content, revision, queued_at) VALUES (?, ?, 1, ?)",
      ),
      outboxReplace: db.prepare(
        "UPDATE devicetwin_outbox SET content = ?, revision = revision + 1, attempts = 0 WHERE resource = ?",
      ),
      outboxPending: db.prepare<
        [],
        { resource: string; content: string; revision: number; attempts: number }
      >("SELECT resource, content, revision, attempts FROM devicetwin_outbox ORDER BY queued_at, resource"),
      outboxDelete: db.prepare("DELETE FROM devicetwin_outbox WHERE resource = ? AND revision = ?"),
      outboxFail: db.prepare(
        "UPDATE devicetwin_outbox SET attempts = attempts + 1 WHERE resource = ? AND revision = ? RETURNING attempts",
      ),
    };
  }

  device(id: string): DeviceRecord | undefined {
    const row = this.#statements.device.get(id);
    return row && toDevice(row);
  }

  devices(): DeviceRecord[] {
    return this.#statements.devices.all().map(toDevice);
  }

  devicesOfModel(namespace: string, model: string): DeviceRecord[] {
    return this.#statements.devicesOfModel.all(namespace, model).map(toDevice);
  }

  twins(id: string): TwinRecord[] {
    return this.#statements.twins.all(id).map(toTwin);
  }

  model(namespace: string, name: string): DeviceModelObject | undefined {
    const row = this.#statements.model.get(namespace, name);
    return row && (JSON.parse(row.object) as DeviceModelObject);
  }

  /** Adds members (or refreshes their description); returns the ids that were not held before. */
  addMembers(members: readonly Member[], now: number): string[] {
    return this.db.transaction(() => {
      const added: string[] = [];
      for (const m of members) {
        const [namespace = "", name = ""] = m.id.split("/");
        if (this.#statements.device.get(m.id)) {
          this.#statements.setMember.run({ id: m.id, description: m.description, now });
        } else {
          this.#statements.insertDevice.run({ id: m.id, namespace, name, description: m.description, now });
          added.push(m.id);
        }
      }
      return added;
    })();
  }

  /** Deletes devices with their twins; returns the ids that were held. */
  removeDevices(ids: readonly string[]): string[] {
    return this.db.transaction(() => ids.filter((id) => this.#statements.deleteDevice.run(id).changes > 0))();
  }

  /** Makes the held devices exactly `members` (KubeEdge's membership detail). */
  replaceMembers(members: readonly Member[], now: number): { added: string[]; removed: string[] } {
    return this.db.transaction(() => {
      const keep = new Set(members.map((m) => m.id));
      const removed = this.removeDevices(
        this.devices()
          .filter((d) => !keep.has(d.id))
          .map((d) => d.id),
      );
      return { added: this.addMembers(members, now), removed };
    })();
  }

  /**
   * Stores the cloud's Device and its twins: one per declared property, with its desired value
   * and type; twins of properties it no longer declares are deleted.
   */
  applyDevice(device: DeviceObject, desired: readonly DesiredTwin[], now: number): DeviceApplied {
    const { namespace, name } = device.metadata;
    const id = deviceIdOf(namespace, name);
    return this.db.transaction((): DeviceApplied => {
      const before = this.#statements.device.get(id);
      const description = device.metadata.labels?.["description"] ?? before?.description ?? "";
      if (!before) this.#statements.insertDevice.run({ id, namespace, name, description, now });
      this.#statements.setObject.run({
        id,
        object: JSON.stringify(device),
        model: device.spec?.deviceModelRef?.name ?? null,
        rv: device.metadata.resourceVersion ?? null,
        now,
      });
      const changes: TwinChange[] = [];
      const declared = new Set<string>();
      for (const d of desired) {
        declared.add(d.property);
        const row = this.#statements.twin.get(id, d.property);
        if (!row) {
          this.#statements.insertTwin.run({
            id,
            property: d.property,
            type: d.type,
            desired: d.desired,
            at: d.desired === null ? null : now,
            version: d.desired === null ? 0 : 1,
          });
        } else if (row.desired !== d.desired || (d.type !== "" && row.type !== d.type)) {
          const desiredChanged = row.desired !== d.desired;
          this.#statements.setDesired.run({
            id,
            property: d.property,
            type: d.type || row.type,
            desired: d.desired,
            at: desiredChanged ? now : row.desired_at,
            version: desiredChanged ? row.desired_version + 1 : row.desired_version,
          });
        } else {
          continue;
        }
        const after = this.#statements.twin.get(id, d.property);
        if (after) changes.push({ before: row ? toTwin(row) : null, after: toTwin(after) });
      }
      const removed: string[] = [];
      for (const t of this.#statements.twins.all(id)) {
        if (declared.has(t.property)) continue;
        this.#statements.deleteTwin.run(id, t.property);
        removed.push(t.property);
      }
      const specBefore = specJson(before?.object ? (JSON.parse(before.object) as DeviceObject) : null);
      return { created: !before, specChanged: specBefore !== specJson(device), changes, removed };
    })();
  }

  putModel(model: DeviceModelObject): void {
    this.#statements.putModel.run({
      ns: model.metadata.namespace,
      name: model.metadata.name,
      object: JSON.stringify(model),
      rv: model.metadata.resourceVersion ?? null,
    });
  }

  deleteModel(namespace: string, name: string): boolean {
    return this.#statements.deleteModel.run(namespace, name).changes > 0;
  }

  /**
   * Records a mapper's report. Only what differs is written (a poll that reads the same value
   * costs no disk write); returns the twins that changed.
   */
  applyReport(id: string, reported: readonly ReportedTwin[], now: number): TwinChange[] {
    return this.db.transaction((): TwinChange[] => {
      const changes: TwinChange[] = [];
      for (const r of reported) {
        let row = this.#statements.twin.get(id, r.property);
        const before = row ? toTwin(row) : null;
        if (!row) {
          this.#statements.insertTwin.run({
            id,
            property: r.property,
            type: r.type ?? "",
            desired: null,
            at: null,
            version: 0,
          });
          row = this.#statements.twin.get(id, r.property);
          if (!row) continue;
        }
        const actualChanged = r.actual !== undefined && r.actual !== row.reported;
        const expectedChanged = r.expected !== undefined && r.expected !== row.observed_desired;
        const typeChanged = row.type === "" && r.type !== undefined && r.type !== "";
        if (!actualChanged && !expectedChanged && !typeChanged && before) continue;
        this.#statements.setReported.run({
          id,
          property: r.property,
          type: typeChanged ? r.type : row.type,
          reported: actualChanged ? r.actual : row.reported,
          reportedAt: actualChanged ? now : row.reported_at,
          reportedVersion: actualChanged ? row.reported_version + 1 : row.reported_version,
          observed: expectedChanged ? r.expected : row.observed_desired,
          observedAt: expectedChanged ? now : row.observed_desired_at,
        });
        const after = this.#statements.twin.get(id, r.property);
        if (after) changes.push({ before, after: toTwin(after) });
      }
      return changes;
    })();
  }

  setState(id: string, state: string, lastOnline: string, now: number): boolean {
    return this.#statements.setState.run({ id, state, lastOnline, now }).changes > 0;
  }

  /**
   * Queues a report for the cloud under its resource. A report already waiting there is replaced
   * by `merge(waiting, content)`, so the queue holds at most one entry per device and kind.
   */
  enqueueReport(
    resource: string,
    content: unknown,
    merge: (waiting: unknown, next: unknown) => unknown,
    now: number,
  ): void {
    this.db.transaction(() => {
      const waiting = this.#statements.outboxEntry.get(resource);
      if (!waiting) {
        this.#statements.outboxInsert.run(resource, JSON.stringify(content), now);
        return;
      }
      const merged = merge(JSON.parse(waiting.content) as unknown, content);
      this.#statements.outboxReplace.run(JSON.stringify(merged), resource);
    })();
  }

  pendingReports(): OutboxEntry[] {
    return this.#statements.outboxPending.all().map((r) => ({
      resource: r.resource,
      content: JSON.parse(r.content) as unknown,
      revision: r.revision,
      attempts: r.attempts,
    }));
  }

  /** Removes a sent report unless a newer one replaced it meanwhile. */
  ackReport(resource: string, revision: number): boolean {
    return this.#statements.outboxDelete.run(resource, revision).changes > 0;
  }

  /** Counts a refused attempt; returns the attempts so far (0 if the entry was replaced). */
  failReport(resource: string, revision: number): number {
    const row = this.#statements.outboxFail.get(resource, revision) as { attempts: number } | undefined;
    return row?.attempts ?? 0;
  }
}
