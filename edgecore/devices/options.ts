/** DeviceTwin's options: defaults and the checks that name the offending field. */
import type { Logger } from "pino";
import type { BackoffOptions } from "../../protocol/backoff.js";
import type { Message } from "../../protocol/message.js";
import type { SqliteDatabase } from "../meta/database.js";
import { DeviceOptionError } from "./errors.js";
import { checkBrokerUrl, EVENT_BUS_DEFAULTS } from "./event-bus.js";
import { isTopicLevel } from "./topics.js";

export interface DeviceTwinOptions {
  /** edgecore's database (openEdgeDatabase); DeviceTwin migrates its own `devicetwin` tables. */
  readonly db: SqliteDatabase;
  readonly nodeName: string;
  /** The node's MQTT broker, e.g. mqtt://127.0.0.1:1883 (KubeEdge's mqttServerExternal). */
  readonly brokerUrl: string;
  /** Sends to the cloud through the tunnel; resolves with the reply, rejects when offline. */
  readonly upstream: (message: Message) => Promise<Message>;
  readonly log: Logger;
  /** MQTT client id; `edgefleet-devicetwin-<node>-<random>` by default. */
  readonly clientId?: string;
  /** Backoff of the broker reconnects. */
  readonly busBackoff?: BackoffOptions;
  /** Backoff of report retries while the cloud is unreachable or refuses. */
  readonly reportRetry?: BackoffOptions;
  /** A report the cloud refuses this many times is dropped. */
  readonly maxReportAttempts?: number;
  /** A device state that does not change goes up again after this long (refreshes lastOnlineTime). */
  readonly stateRefreshMs?: number;
  /** Injected clock (ms since the epoch). */
  readonly now?: () => number;
  readonly random?: () => number;
}

export const DEVICE_TWIN_DEFAULTS = {
  busBackoff: EVENT_BUS_DEFAULTS.backoff,
  reportRetry: { initialMs: 1_000, maxMs: 30_000 },
  maxReportAttempts: 5,
  stateRefreshMs: 60_000,
} as const;

export type ResolvedDeviceTwinOptions = DeviceTwinOptions &
  Required<
    Pick<DeviceTwinOptions, "busBackoff" | "reportRetry" | "maxReportAttempts" | "stateRefreshMs" | "now">
  >;

function checkBackoff(field: string, backoff: BackoffOptions): void {
  if (!(backoff.initialMs > 0)) throw new DeviceOptionError(`${field}.initialMs`, "must be > 0");
  if (!(backoff.maxMs >= backoff.initialMs))
    throw new DeviceOptionError(`${field}.maxMs`, `must be ≥ ${field}.initialMs`);
}

/** Fills in defaults and checks every field; throws DeviceOptionError naming the first bad one. */
export function parseDeviceTwinOptions(options: DeviceTwinOptions): ResolvedDeviceTwinOptions {
  if (!isTopicLevel(options.nodeName))
    throw new DeviceOptionError(
      "nodeName",
      "must be non-empty without '/', '+', '#' (it is an MQTT topic level)",
    );
  checkBrokerUrl(options.brokerUrl, "brokerUrl");
  const resolved: ResolvedDeviceTwinOptions = {
    ...options,
    busBackoff: options.busBackoff ?? DEVICE_TWIN_DEFAULTS.busBackoff,
    reportRetry: options.reportRetry ?? DEVICE_TWIN_DEFAULTS.reportRetry,
    maxReportAttempts: options.maxReportAttempts ?? DEVICE_TWIN_DEFAULTS.maxReportAttempts,
    stateRefreshMs: options.stateRefreshMs ?? DEVICE_TWIN_DEFAULTS.stateRefreshMs,
    now: options.now ?? Date.now,
  };
  checkBackoff("busBackoff", resolved.busBackoff);
  checkBackoff("reportRetry", resolved.reportRetry);
  if (!Number.isInteger(resolved.maxReportAttempts) || resolved.maxReportAttempts < 1)
    throw new DeviceOptionError("maxReportAttempts", "must be an integer ≥ 1");
  if (!(resolved.stateRefreshMs >= 0)) throw new DeviceOptionError("stateRefreshMs", "must be ≥ 0");
  return resolved;
}
