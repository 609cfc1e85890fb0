/**
 * The device bus: one MQTT connection to the node's broker (KubeEdge's eventbus in external mode,
 * edge/pkg/eventbus/mqtt/client.go), behind the DeviceBus interface DeviceTwin and mappers use.
 * Reconnects with exponential backoff and full jitter; resubscribes everything on each connect.
 */
import mqtt, { type MqttClient } from "mqtt";
import type { Logger } from "pino";
import { backoffDelay, type BackoffOptions } from "../../protocol/backoff.js";
import { DeviceBusClosedError, DeviceOptionError } from "./errors.js";

export type BusStatus =
  | { readonly type: "idle" }
  | { readonly type: "connecting"; readonly attempt: number }
  | { readonly type: "connected"; readonly since: number }
  | { readonly type: "waiting"; readonly delayMs: number; readonly lastError: string }
  | { readonly type: "closed" };

/** What DeviceTwin and mappers need of MQTT. */
export interface DeviceBus {
  readonly status: BusStatus;
  /** Starts connecting in the background; reconnects until close(). */
  start(): void;
  /** Resolves once connected and subscribed (at once if already); rejects if closed first. */
  connected(): Promise<void>;
  /**
   * Publishes at QoS 1. Returns false (and drops the message) while disconnected: every publisher
   * here repeats what matters on reconnect (profiles) or on the next report (deltas).
   */
  publish(topic: string, payload: string, options?: { readonly retain?: boolean }): boolean;
  /** Adds a subscription, kept across reconnects. */
  subscribe(filter: string): void;
  unsubscribe(filter: string): void;
  onMessage(handler: (topic: string, payload: Buffer) => void): void;
  /** Called after every (re)connect, once the subscriptions are in place. */
  onConnected(handler: () => void): void;
  /** Stops reconnecting and disconnects; safe to call twice. */
  close(): Promise<void>;
}

export interface EventBusOptions {
  /** mqtt://host:port (also mqtts, ws, wss). */
  readonly url: string;
  readonly clientId: string;
  readonly subscriptions?: readonly string[];
  readonly log: Logger;
  readonly backoff?: BackoffOptions;
  readonly connectTimeoutMs?: number;
  readonly random?: () => number;
}

export const EVENT_BUS_DEFAULTS = {
  backoff: { initialMs: 200, maxMs: 10_000 },
  connectTimeoutMs: 5_000,
} as const;

const URL_PROTOCOLS: ReadonlySet<string> = new Set(["mqtt:", "mqtts:", "tcp:", "ssl:", "ws:", "wss:"]);

/** Checks a broker URL; throws DeviceOptionError naming `field`. */
export function checkBrokerUrl(url: string, field: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DeviceOptionError(field, `${JSON.stringify(url)} is not a URL`);
  }
  if (!URL_PROTOCOLS.has(parsed.protocol))
    throw new DeviceOptionError(field, `protocol ${parsed.protocol} is not one of mqtt:, mqtts:, ws:, wss:`);
}

export class MqttEventBus implements DeviceBus {
  #status: BusStatus = { type: "idle" };
  #client: MqttClient | undefined;
  #attempt = 0;
  #lastError = "";
  #timer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;
  readonly #filters: Set<string>;
  readonly #messageHandlers: ((topic: string, payload: Buffer) => void)[] = [];
  readonly #connectedHandlers: (() => void)[] = [];
  readonly #statusHandlers = new Set<(status: BusStatus) => void>();
  readonly #log: Logger;

  constructor(private readonly options: EventBusOptions) {
    checkBrokerUrl(options.url, "url");
    if (options.clientId === "") throw new DeviceOptionError("clientId", "must not be empty");
    this.#filters = new Set(options.subscriptions ?? []);
    this.#log = options.log.child({ component: "eventbus" });
  }

  get status(): BusStatus {
    return this.#status;
  }

  start(): void {
    if (this.#client || this.#closed) return;
    const client = mqtt.connect(this.options.url, {
      clientId: this.options.clientId,
      // Reconnects are ours (backoff with jitter); mqtt.js would retry at a fixed period.
      reconnectPeriod: 0,
      manualConnect: true,
      connectTimeout: this.options.connectTimeoutMs ?? EVENT_BUS_DEFAULTS.connectTimeoutMs,
      clean: true,
      resubscribe: false,
    });
    client.on("connect", () => void this.#onConnect(client));
    client.on("message", (topic, payload) => this.#dispatch(topic, payload));
    client.on("error", (err) => {
      this.#lastError = err.message;
      this.#log.debug({ err: err.message }, "mqtt error");
    });
    client.on("close", () => this.#onClose());
    this.#client = client;
    this.#setStatus({ type: "connecting", attempt: 0 });
    client.connect();
  }

  /** Subscribes to status changes; returns the unsubscribe function. */
  onStatus(handler: (status: BusStatus) => void): () => void {
    this.#statusHandlers.add(handler);
    return () => this.#statusHandlers.delete(handler);
  }

  connected(): Promise<void> {
    if (this.#status.type === "connected") return Promise.resolve();
    if (this.#status.type === "closed") return Promise.reject(new DeviceBusClosedError("event bus closed"));
    return new Promise((resolve, reject) => {
      const handler = (status: BusStatus): void => {
        if (status.type === "connected") resolve();
        else if (status.type === "closed") reject(new DeviceBusClosedError("event bus closed"));
        else return;
        this.#statusHandlers.delete(handler);
      };
      this.#statusHandlers.add(handler);
    });
  }

  publish(topic: string, payload: string, options: { readonly retain?: boolean } = {}): boolean {
    const client = this.#client;
    if (!client?.connected || this.#closed) return false;
    client.publish(topic, payload, { qos: 1, retain: options.retain ?? false }, (err) => {
      if (err) this.#log.debug({ topic, err: err.message }, "publish failed");
    });
    return true;
  }

  subscribe(filter: string): void {
    if (this.#filters.has(filter)) return;
    this.#filters.add(filter);
    const client = this.#client;
    if (!client?.connected) return;
    client.subscribe(filter, { qos: 1 }, (err) => {
      if (err) this.#log.warn({ filter, err: err.message }, "subscribe failed");
    });
  }

  unsubscribe(filter: string): void {
    if (!this.#filters.delete(filter)) return;
    const client = this.#client;
    if (!client?.connected) return;
    client.unsubscribe(filter, (err) => {
      if (err) this.#log.debug({ filter, err: err.message }, "unsubscribe failed");
    });
  }

  onMessage(handler: (topic: string, payload: Buffer) => void): void {
    this.#messageHandlers.push(handler);
  }

  onConnected(handler: () => void): void {
    this.#connectedHandlers.push(handler);
  }

  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#setStatus({ type: "closed" });
      const client = this.#client;
      if (client) await client.endAsync(true);
    })();
    return this.#closed;
  }

  async #onConnect(client: MqttClient): Promise<void> {
    this.#attempt = 0;
    const filters = [...this.#filters];
    if (filters.length > 0) {
      try {
        const granted = await client.subscribeAsync(filters, { qos: 1 });
        for (const g of granted)
          if (g.qos === 128) this.#log.warn({ filter: g.topic }, "broker refused the subscription");
      } catch (err) {
        this.#log.warn({ err: (err as Error).message }, "subscribing failed; reconnecting");
        client.stream.destroy();
        return;
      }
    }
    if (!client.connected || this.#closed) return;
    this.#setStatus({ type: "connected", since: Date.now() });
    this.#log.debug({ url: this.options.url }, "connected");
    for (const handler of [...this.#connectedHandlers]) {
      try {
        handler();
      } catch (err) {
        this.#log.error({ err: (err as Error).message }, "connected handler failed");
      }
    }
  }

  #onClose(): void {
    if (this.#closed || this.#timer) return;
    const backoff = this.options.backoff ?? EVENT_BUS_DEFAULTS.backoff;
    const delayMs = backoffDelay(this.#attempt++, backoff, this.options.random);
    this.#setStatus({ type: "waiting", delayMs, lastError: this.#lastError || "connection closed" });
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (this.#closed) return;
      this.#setStatus({ type: "connecting", attempt: this.#attempt });
      this.#client?.reconnect();
    }, delayMs);
  }

  #dispatch(topic: string, payload: Buffer): void {
    for (const handler of [...this.#messageHandlers]) {
      try {
        handler(topic, payload);
      } catch (err) {
        this.#log.error({ topic, err: (err as Error).message }, "message handler failed");
      }
    }
  }

  #setStatus(status: BusStatus): void {
    this.#status = status;
    for (const handler of [...this.#statusHandlers]) handler(status);
  }
}
