import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";

const require = createRequire(import.meta.url);

describe("native modules", () => {
  it("uWebSockets.js - loads its native binary for this Node ABI, not the ws fallback", () => {
    // The package silently falls back to a slower JS implementation built on `ws` when the binary
    // fails to load. What it exports must be the very module object of the native addon.
    const uws: unknown = require("@trufflesuite/uws-js-unofficial");
    const native: unknown = require(
      `@trufflesuite/uws-js-unofficial/binaries/uws_${process.platform}_${process.arch}_${process.versions.modules}.node`,
    );
    expect(uws).toBe(native);
  });

  it("better-sqlite3 - its compiled addon opens a database", async () => {
    const { default: Database } = await import("better-sqlite3");
    const db = new Database(":memory:");
    expect(db.prepare("select 1 + 1 as two").get()).toEqual({ two: 2 });
    db.close();
  });
});
