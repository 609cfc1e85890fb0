/** A scriptable DeviceBus for unit tests: records publishes, delivers messages on demand. */
import type { BusStatus, DeviceBus } from "../event-bus.js";

export interface Published {
  readonly topic: string;
  readonly payload: string;
  readonly retain: boolean;
}

export class FakeBus implements DeviceBus {
  status: BusStatus = { type: "idle" };
  readonly published: Published[] = [];
  readonly filters = new Set<string>();
  /** While false, publish() drops messages and returns false (a broker outage). */
  up = true;
  readonly #messageHandlers: ((topic: string, payload: Buffer) => void)[] = [];
  readonly #connectedHandlers: (() => void)[] = [];

  start(): void {
    this.status = { type: "connected", since: Date.now() };
    for (const handler of this.#connectedHandlers) handler();
  }

  async connected(): Promise<void> {}

  publish(topic: string, payload: string, options: { readonly retain?: boolean } = {}): boolean {
    if (!this.up) return false;
    this.published.push({ topic, payload, retain: options.retain ?? false });
    return true;
  }

  subscribe(filter: string): void {
    this.filters.add(filter);
  }

  unsubscribe(filter: string): void {
    this.filters.delete(filter);
  }

  onMessage(handler: (topic: string, payload: Buffer) => void): void {
    this.#messageHandlers.push(handler);
  }

  onConnected(handler: () => void): void {
    this.#connectedHandlers.push(handler);
  }

  async close(): Promise<void> {
    this.status = { type: "closed" };
  }

  /** Delivers a message as the broker would (objects are sent as JSON). */
  deliver(topic: string, payload: string | object): void {
    const text = typeof payload === "string" ? payload : JSON.stringify(payload);
    for (const handler of this.#messageHandlers) handler(topic, Buffer.from(text));
  }

  /** Payloads published on `topic`, parsed. */
  on(topic: string): unknown[] {
    return this.published
      .filter((p) => p.topic === topic)
      .map((p) => (p.payload === "" ? "" : JSON.parse(p.payload)));
  }

  clear(): void {
    this.published.length = 0;
  }
}
