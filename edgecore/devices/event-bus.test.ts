import { createServer, type AddressInfo } from "node:net";
import { pino } from "pino";
import { describe, expect, it, vi } from "vitest";
import { DeviceBusClosedError, DeviceOptionError } from "./errors.js";
import { MqttEventBus, type BusStatus } from "./event-bus.js";

/** A loopback port nothing listens on (bound, then released). */
async function refusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe("event bus", () => {
  it("options - refuses a URL that is not mqtt, mqtts, ws or wss, naming the field", () => {
    const log = pino({ level: "silent" });
    expect(() => new MqttEventBus({ url: "http://x", clientId: "c", log })).toThrow(DeviceOptionError);
    expect(() => new MqttEventBus({ url: "mqtt://x", clientId: "", log })).toThrow(/clientId/);
  });

  it("reconnect - a refused broker is retried with growing delays until close(), which rejects connected()", async () => {
    const bus = new MqttEventBus({
      url: `mqtt://127.0.0.1:${await refusedPort()}`,
      clientId: "bus-test",
      log: pino({ level: "silent" }),
      backoff: { initialMs: 10, maxMs: 40 },
      random: () => 1,
    });
    const seen: BusStatus[] = [];
    bus.onStatus((status) => seen.push(status));
    const waiting = bus.connected();
    bus.start();
    const delays = (): number[] => seen.flatMap((s) => (s.type === "waiting" ? [s.delayMs] : []));
    await vi.waitFor(() => expect(delays().length).toBeGreaterThanOrEqual(4), { timeout: 5_000 });
    expect(delays().slice(0, 4)).toEqual([10, 20, 40, 40]);
    expect(seen[0]).toEqual({ type: "connecting", attempt: 0 });
    expect(seen.find((s) => s.type === "waiting")).toMatchObject({
      lastError: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(bus.status).not.toEqual({ type: "connected" });
    await bus.close();
    await bus.close();
    await expect(waiting).rejects.toBeInstanceOf(DeviceBusClosedError);
    expect(bus.status).toEqual({ type: "closed" });
    expect(bus.publish("t", "x")).toBe(false);
  });
});
