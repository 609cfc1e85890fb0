import { afterEach, describe, expect, it } from "vitest";
import { openEdgeDatabase, type SqliteDatabase } from "../meta/database.js";
import type { DeviceObject } from "./payloads.js";
import { TwinStore } from "./twin-store.js";

const device = (properties: { name: string; value?: string }[]): DeviceObject => ({
  metadata: { namespace: "ns", name: "boiler", labels: { description: "hot water" } },
  spec: {
    deviceModelRef: { name: "thermostat" },
    properties: properties.map((p) => ({ name: p.name, ...(p.value && { desired: { value: p.value } }) })),
  },
});

let db: SqliteDatabase;
afterEach(() => db.close());

function store(): TwinStore {
  db = openEdgeDatabase(":memory:");
  return new TwinStore(db);
}

describe("twin store", () => {
  it("applyDevice - creates the device and its twins, then reports only what changed; versions count desired changes", () => {
    const s = store();
    const first = s.applyDevice(
      device([{ name: "target", value: "21" }, { name: "temp" }]),
      [
        { property: "target", type: "int", desired: "21" },
        { property: "temp", type: "float", desired: null },
      ],
      10,
    );
    expect(first).toMatchObject({ created: true, specChanged: true, removed: [] });
    expect(first.changes.map((c) => c.after.property)).toEqual(["target", "temp"]);
    expect(s.device("ns/boiler")).toMatchObject({
      member: true,
      description: "hot water",
      model: "thermostat",
    });

    const same = s.applyDevice(
      device([{ name: "target", value: "21" }, { name: "temp" }]),
      [
        { property: "target", type: "int", desired: "21" },
        { property: "temp", type: "float", desired: null },
      ],
      20,
    );
    expect(same).toEqual({ created: false, specChanged: false, changes: [], removed: [] });

    const changed = s.applyDevice(
      device([{ name: "target", value: "30" }]),
      [{ property: "target", type: "int", desired: "30" }],
      30,
    );
    expect(changed.removed).toEqual(["temp"]);
    expect(changed.changes[0]?.after).toMatchObject({ desired: "30", desiredAt: 30, desiredVersion: 2 });
    expect(s.twins("ns/boiler").map((t) => t.property)).toEqual(["target"]);
  });

  it("applyReport - writes a twin only when its value changes, and keeps what the mapper observed as desired", () => {
    const s = store();
    s.addMembers([{ id: "ns/boiler", name: "boiler", description: "" }], 1);
    expect(s.applyReport("ns/boiler", [{ property: "t", actual: "1", type: "int" }], 5)).toHaveLength(1);
    expect(s.applyReport("ns/boiler", [{ property: "t", actual: "1" }], 6)).toEqual([]);
    const [change] = s.applyReport("ns/boiler", [{ property: "t", actual: "2", expected: "2" }], 7);
    expect(change?.before).toMatchObject({ reported: "1", reportedAt: 5 });
    expect(change?.after).toMatchObject({
      type: "int",
      reported: "2",
      reportedAt: 7,
      reportedVersion: 2,
      observedDesired: "2",
    });
  });

  it("removeDevices - deletes the device with its twins", () => {
    const s = store();
    s.addMembers([{ id: "ns/boiler", name: "boiler", description: "" }], 1);
    s.applyReport("ns/boiler", [{ property: "t", actual: "1" }], 2);
    expect(s.removeDevices(["ns/boiler", "ns/other"])).toEqual(["ns/boiler"]);
    expect(s.twins("ns/boiler")).toEqual([]);
  });

  it("replaceMembers - makes the held devices exactly the given list", () => {
    const s = store();
    s.addMembers(
      [
        { id: "ns/a", name: "a", description: "" },
        { id: "ns/b", name: "b", description: "" },
      ],
      1,
    );
    expect(
      s.replaceMembers(
        [
          { id: "ns/b", name: "b", description: "" },
          { id: "ns/c", name: "c", description: "" },
        ],
        2,
      ),
    ).toEqual({
      added: ["ns/c"],
      removed: ["ns/a"],
    });
  });

  it("outbox - one entry per resource, merged; an ack for a replaced revision keeps the newer content", () => {
    const s = store();
    const merge = (a: unknown, b: unknown): unknown => ({ ...(a as object), ...(b as object) });
    s.enqueueReport("device/ns/a/twin/edge_updated", { x: 1 }, merge, 1);
    const [first] = s.pendingReports();
    s.enqueueReport("device/ns/a/twin/edge_updated", { y: 2 }, merge, 2);
    expect(s.ackReport("device/ns/a/twin/edge_updated", first?.revision ?? 0)).toBe(false);
    const [second] = s.pendingReports();
    expect(second).toEqual({
      resource: "device/ns/a/twin/edge_updated",
      content: { x: 1, y: 2 },
      revision: 2,
      attempts: 0,
    });
    expect(s.failReport(second?.resource ?? "", 2)).toBe(1);
    expect(s.ackReport(second?.resource ?? "", 2)).toBe(true);
    expect(s.pendingReports()).toEqual([]);
  });

  it("migration - a second store on the same database keeps the data", () => {
    const s = store();
    s.addMembers([{ id: "ns/a", name: "a", description: "" }], 1);
    expect(new TwinStore(db).devices().map((d) => d.id)).toEqual(["ns/a"]);
  });
});
