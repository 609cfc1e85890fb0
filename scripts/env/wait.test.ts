import { describe, expect, it } from "vitest";
import { StartTimeoutError } from "./errors.js";
import { settledLowest, waitFor } from "./wait.js";

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

describe("settledLowest", () => {
  it("samples until three in a row are within 1%, and resolves to the lowest sample seen", async () => {
    const samples = [300, 250, 200, 201, 200.5, 999];
    let i = 0;
    const low = await settledLowest(async () => samples[i++] ?? 0, { intervalMs: 1, timeoutMs: 2000 });
    expect(low).toBe(200);
    expect(i).toBe(5);
  });

  it("gives the lowest sample so far when the figure never settles in time", async () => {
    let n = 0;
    const low = await settledLowest(async () => (n++ % 2 === 0 ? 100 : 150), {
      intervalMs: 5,
      timeoutMs: 30,
    });
    expect(low).toBe(100);
  });
});
