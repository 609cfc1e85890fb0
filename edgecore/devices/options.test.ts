import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { responseTo } from "../../protocol/message.js";
import type { SqliteDatabase } from "../meta/database.js";
import { DeviceOptionError } from "./errors.js";
import { DEVICE_TWIN_DEFAULTS, parseDeviceTwinOptions, type DeviceTwinOptions } from "./options.js";

const base: DeviceTwinOptions = {
  db: {} as SqliteDatabase,
  nodeName: "edge-1",
  brokerUrl: "mqtt://127.0.0.1:1883",
  upstream: async (m) => responseTo(m, "OK"),
  log: pino({ level: "silent" }),
};

const fieldOf = (options: Partial<DeviceTwinOptions>): string => {
  try {
    parseDeviceTwinOptions({ ...base, ...options });
  } catch (err) {
    if (err instanceof DeviceOptionError) return err.field;
    throw err;
  }
  return "";
};

describe("devicetwin options", () => {
  it("defaults - filled in when absent", () => {
    expect(parseDeviceTwinOptions(base)).toMatchObject(DEVICE_TWIN_DEFAULTS);
  });
  it("nodeName - must be one MQTT topic level", () => {
    expect(fieldOf({ nodeName: "a/b" })).toBe("nodeName");
    expect(fieldOf({ nodeName: "+" })).toBe("nodeName");
    expect(fieldOf({ nodeName: "" })).toBe("nodeName");
  });
  it("brokerUrl - must be an mqtt, mqtts, ws or wss URL", () => {
    expect(fieldOf({ brokerUrl: "127.0.0.1:1883" })).toBe("brokerUrl");
    expect(fieldOf({ brokerUrl: "http://127.0.0.1" })).toBe("brokerUrl");
  });
  it("backoffs - initialMs > 0 and maxMs ≥ initialMs", () => {
    expect(fieldOf({ reportRetry: { initialMs: 0, maxMs: 10 } })).toBe("reportRetry.initialMs");
    expect(fieldOf({ busBackoff: { initialMs: 100, maxMs: 10 } })).toBe("busBackoff.maxMs");
  });
  it("maxReportAttempts - an integer ≥ 1", () => {
    expect(fieldOf({ maxReportAttempts: 0 })).toBe("maxReportAttempts");
    expect(fieldOf({ maxReportAttempts: 1.5 })).toBe("maxReportAttempts");
  });
  it("stateRefreshMs - not negative", () => {
    expect(fieldOf({ stateRefreshMs: -1 })).toBe("stateRefreshMs");
  });
});
