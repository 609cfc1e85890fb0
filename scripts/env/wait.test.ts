import { describe, expect, it } from "vitest";
import { StartTimeoutError } from "./errors.js";
import { waitFor } from "./wait.js";

describe("waitFor", () => {
  it("resolves once the probe returns true, treating throws as not yet", async () => {
    let calls = 0;
    await waitFor(
      async () => {
        calls++;
        if (calls < 3) throw new Error("connection refused");
        return true;
      },
      { what: "thing", timeoutMs: 2000, intervalMs: 1 },
    );
    expect(calls).toBe(3);
  });

  it("times out with the last probe error as cause", async () => {
    const error = await waitFor(
      async () => {
        throw new Error("connection refused");
      },
      { what: "thing", timeoutMs: 20, intervalMs: 5 },
    ).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(StartTimeoutError);
    expect((error as StartTimeoutError).message).toBe("thing not ready after 20 ms");
    expect(((error as StartTimeoutError).cause as Error).message).toBe("connection refused");
  });
});
