import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { switchToWal } from "./credential-cache.js";

// A second connection in another thread holds a write lock on the file for `holdMs`, as a second
// shard worker does while it switches the same new cache to WAL. A switch made meanwhile reads
// first and then asks for the write lock; SQLite refuses that upgrade with SQLITE_BUSY at once,
// without calling the busy handler (waiting could deadlock two such readers).
const HOLDER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.sqlite);
const db = new Database(workerData.path);
db.exec("BEGIN IMMEDIATE");
db.prepare("INSERT INTO t VALUES (1)").run();
parentPort.postMessage("holding");
setTimeout(() => { db.exec("COMMIT"); db.close(); parentPort.postMessage("released"); }, workerData.holdMs);
`;

async function holdWriteLock(path: string, holdMs: number): Promise<Worker> {
  const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
  const worker = new Worker(HOLDER, { eval: true, workerData: { path, holdMs, sqlite } });
  await new Promise<void>((resolve, reject) => {
    worker.once("message", () => resolve());
    worker.once("error", reject);
  });
  return worker;
}

describe("switching the credential cache to WAL", () => {
  let dir: string;
  let path: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "edgefleet-cache-"));
    path = join(dir, "certs.db");
    const setup = new Database(path);
    setup.exec("CREATE TABLE t (x)");
    setup.close();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("SQLite itself fails the switch at once while another connection holds the write lock (why the retry exists)", async () => {
    const holder = await holdWriteLock(path, 300);
    const db = new Database(path, { timeout: 5000 });
    expect(() => db.pragma("journal_mode = WAL")).toThrow(expect.objectContaining({ code: "SQLITE_BUSY" }));
    db.close();
    await holder.terminate();
  });

  it("waits for the other connection and then switches, instead of failing with SQLITE_BUSY", async () => {
    const holder = await holdWriteLock(path, 150);
    const released = new Promise((resolve) => holder.once("message", resolve));
    const db = new Database(path);
    const started = performance.now();
    switchToWal(db);
    expect(performance.now() - started).toBeGreaterThanOrEqual(100);
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    db.close();
    await released;
    await holder.terminate();
  });

  it("finds WAL already set by another connection without taking a lock", async () => {
    const first = new Database(path);
    switchToWal(first);
    const holder = await holdWriteLock(path, 300);
    const second = new Database(path);
    const started = performance.now();
    switchToWal(second);
    expect(performance.now() - started).toBeLessThan(100);
    expect(second.pragma("journal_mode", { simple: true })).toBe("wal");
    second.close();
    first.close();
    await holder.terminate();
  });
});
