import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openEdgeDatabase } from "./database.js";
import { MetaStore } from "./meta-store.js";

const WRITER = join(import.meta.dirname, "testdata", "crash-writer.ts");

/** Runs the writer until SIGKILL after `killAfterMs`; returns the highest acked resourceVersion per resource. */
async function writeUntilKilled(
  file: string,
  start: number,
  killAfterMs: number,
): Promise<Map<string, number>> {
  const child = spawn(process.execPath, ["--import", "tsx", WRITER, file, String(start)], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const acked = new Map<string, number>();
  let buffer = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf("\n")) >= 0) {
      const [resource = "", rv = "0"] = buffer.slice(0, nl).split(" ");
      acked.set(resource, Math.max(acked.get(resource) ?? 0, Number(rv)));
      buffer = buffer.slice(nl + 1);
    }
  });
  // Kill only once acks flow (tsx start-up takes a moment), then at the chosen point.
  await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
  await new Promise((r) => setTimeout(r, killAfterMs));
  child.kill("SIGKILL");
  await new Promise((resolve) => child.once("close", resolve));
  return acked;
}

describe("MetaManager under a power cut", () => {
  it("loses no acked object and leaves no half-applied one when killed mid-write, again and again", async () => {
    const dir = mkdtempSync(join(tmpdir(), "edgefleet-crash-"));
    const file = join(dir, "edgecore.db");
    try {
      let next = 1;
      for (const killAfterMs of [37, 211, 503]) {
        const acked = await writeUntilKilled(file, next, killAfterMs);
        expect(acked.size).toBeGreaterThan(0);
        const db = openEdgeDatabase(file);
        try {
          expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
          const store = new MetaStore(db);
          for (const [resource, rv] of acked) {
            const stored = store.get(resource);
            // Acked ⇒ stored, at that version or a later one written before the kill.
            expect(Number(stored?.cloudResourceVersion)).toBeGreaterThanOrEqual(rv);
            const object = stored?.object as { spec: { rv: number }; status: { copy: number } };
            expect(object.spec.rv).toBe(object.status.copy);
            expect(String(object.spec.rv)).toBe(stored?.cloudResourceVersion);
          }
          next = Math.max(...store.list("pod").map((s) => Number(s.cloudResourceVersion))) + 1;
        } finally {
          db.close();
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
