/**
 * A Modbus TCP mapper. It learns the node's Modbus devices from the retained profiles DeviceTwin
 * publishes, polls each reported property every collectCycle and publishes `twin/update` with the
 * value read (scale applied), and writes the desired value of a `twin/update/delta` to the register
 * before reporting what the device then holds. One TCP connection per device, requests in order.
 */
import { randomUUID } from "node:crypto";
import { Socket } from "node:net";
import { ModbusTCPClient } from "jsmodbus";
import type { Logger } from "pino";
import { z } from "zod";
import { DeviceOptionError, ModbusConfigError, ModbusRequestError } from "../errors.js";
import { checkBrokerUrl, MqttEventBus, type BusStatus, type DeviceBus } from "../event-bus.js";
import { DeviceProfile, PROFILE_FORMAT } from "../payloads.js";
import { deviceTopic, isTopicLevel, parseTopic, profileFilter, TwinSuffix } from "../topics.js";
import {
  decodeBit,
  decodeRegisters,
  encodeBit,
  encodeRegisters,
  parseTcpConfig,
  parseVisitor,
  RegisterType,
  WRITABLE_REGISTERS,
  wordsToBuffer,
  type ModbusTcpConfig,
  type RegisterVisitor,
} from "./modbus-codec.js";

export interface ModbusMapperOptions {
  readonly brokerUrl: string;
  /** The node whose devices this mapper serves (DeviceTwin's nodeName). */
  readonly nodeName: string;
  readonly log: Logger;
  /** Devices whose spec.protocol.protocolName is this are served; default "modbus". */
  readonly protocolName?: string;
  readonly clientId?: string;
  /** One Modbus request's timeout. */
  readonly requestTimeoutMs?: number;
  readonly connectTimeoutMs?: number;
  /** Poll period of a property without collectCycle (KubeEdge's mapper-framework: 1 s). */
  readonly defaultCollectCycleMs?: number;
  /** First delay before reconnecting to a device that refused; doubles up to maxReconnectMs. */
  readonly reconnectMs?: number;
  readonly maxReconnectMs?: number;
}

export const MODBUS_MAPPER_DEFAULTS = {
  protocolName: "modbus",
  requestTimeoutMs: 2_000,
  connectTimeoutMs: 3_000,
  defaultCollectCycleMs: 1_000,
  reconnectMs: 500,
  maxReconnectMs: 30_000,
} as const;

/** Longest period a timer can have; longer ones fire at once in Node. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/**
 * collectCycle is in milliseconds (mapper-framework multiplies by time.Millisecond); the KubeEdge
 * website's sample writes nanoseconds (10000000000 for 10 s). Values this large are read as ns.
 */
const NANOSECOND_THRESHOLD = 1e9;

export function collectCycleMs(value: number | undefined, fallback: number): number {
  if (value === undefined || !Number.isFinite(value) || value <= 0) return fallback;
  const ms = value >= NANOSECOND_THRESHOLD ? value / 1e6 : value;
  return Math.min(Math.max(Math.round(ms), 10), MAX_TIMER_MS);
}

const DeltaPayload = z.object({ delta: z.record(z.string()) }).passthrough();

interface PropertyPlan {
  readonly name: string;
  /** KubeEdge's twin type for reports (int, float…). */
  readonly twinType: string;
  readonly visitor: RegisterVisitor;
  readonly writable: boolean;
  readonly reportToCloud: boolean;
  readonly cycleMs: number;
}

const describe = (err: unknown): string => {
  if (err instanceof Error) return err.message;
  if (typeof err === "object" && err !== null && "message" in err) {
    const e = err as { err?: unknown; message?: unknown };
    return `${String(e.err ?? "error")}: ${String(e.message)}`;
  }
  return String(err);
};

/** One device: its connection, pollers and writes. */
class ModbusDevice {
  #socket: Socket | undefined;
  #client: ModbusTCPClient | undefined;
  #connecting: Promise<ModbusTCPClient> | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #timers: NodeJS.Timeout[] = [];
  #polling = new Set<string>();
  #stopped = false;
  #state: "online" | "offline" | undefined;
  #failures = 0;
  #nextConnectAt = 0;
  /** property → the desired value last written (reported as `expected`: the observed desired). */
  readonly #applied = new Map<string, string>();

  constructor(
    readonly id: string,
    private readonly tcp: ModbusTcpConfig,
    readonly properties: ReadonlyMap<string, PropertyPlan>,
    private readonly bus: DeviceBus,
    private readonly options: Required<Omit<ModbusMapperOptions, "log" | "clientId">>,
    private readonly log: Logger,
  ) {}

  start(): void {
    for (const plan of this.properties.values()) {
      if (!plan.reportToCloud) continue;
      this.#timers.push(setInterval(() => this.#poll(plan), plan.cycleMs));
      this.#poll(plan);
    }
  }

  /** Stops polling and closes the connection; pending requests fail and are dropped. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    this.#socket?.destroy();
    await this.#chain.catch(() => undefined);
  }

  applyDelta(delta: Readonly<Record<string, string>>): void {
    for (const [name, value] of Object.entries(delta)) {
      const plan = this.properties.get(name);
      if (!plan) continue;
      if (!plan.writable) {
        this.log.debug({ property: name }, "delta for a read-only property ignored");
        continue;
      }
      void this.#run(() => this.#write(plan, value)).catch((err: unknown) =>
        this.log.warn({ property: name, value, err: describe(err) }, "writing the desired value failed"),
      );
    }
  }

  #poll(plan: PropertyPlan): void {
    if (this.#polling.has(plan.name) || this.#stopped) return;
    this.#polling.add(plan.name);
    void this.#run(async () => {
      const value = await this.#read(plan);
      this.#report(plan, value);
    })
      .catch((err: unknown) => this.log.debug({ property: plan.name, err: describe(err) }, "poll failed"))
      .finally(() => this.#polling.delete(plan.name));
  }

  /** Runs Modbus work one task at a time (a write is not interleaved with a poll's read). */
  #run<T>(task: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(() => {
      if (this.#stopped) throw new ModbusRequestError(`device ${this.id} stopped`);
      return task();
    });
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #write(plan: PropertyPlan, value: string): Promise<void> {
    const client = await this.#connection();
    const { visitor } = plan;
    let written = false;
    if (visitor.register === RegisterType.Coil) {
      const bit = encodeBit(value);
      const current = (await this.#request(client.readCoils(visitor.offset, 1))).response.body
        .valuesAsArray[0];
      if (Boolean(current) !== bit) {
        await this.#request(client.writeSingleCoil(visitor.offset, bit));
        written = true;
      }
    } else {
      const wanted = encodeRegisters(value, visitor);
      // Already there (a repeated delta, or a value the register rounds to): no write.
      if (!(await this.#readRaw(client, visitor)).equals(wanted)) {
        if (visitor.limit === 1)
          await this.#request(client.writeSingleRegister(visitor.offset, wanted.readUInt16BE(0)));
        else await this.#request(client.writeMultipleRegisters(visitor.offset, wanted));
        written = true;
      }
    }
    if (written) this.log.info({ property: plan.name, value }, "desired value written");
    const firstTime = this.#applied.get(plan.name) !== value;
    this.#applied.set(plan.name, value);
    // Report at once only what is new. A value the register cannot hold exactly (rounded) would
    // otherwise loop report → delta → no write → report; the next poll reports it instead.
    if (plan.reportToCloud && (written || firstTime)) this.#report(plan, await this.#read(plan));
  }

  async #read(plan: PropertyPlan): Promise<string> {
    const client = await this.#connection();
    const { visitor } = plan;
    switch (visitor.register) {
      case RegisterType.Coil:
        return decodeBit(
          Boolean((await this.#request(client.readCoils(visitor.offset, 1))).response.body.valuesAsArray[0]),
          visitor,
        );
      case RegisterType.DiscreteInput:
        return decodeBit(
          Boolean(
            (await this.#request(client.readDiscreteInputs(visitor.offset, 1))).response.body
              .valuesAsArray[0],
          ),
          visitor,
        );
      default:
        return decodeRegisters(await this.#readRaw(client, visitor), visitor);
    }
  }

  async #readRaw(client: ModbusTCPClient, visitor: RegisterVisitor): Promise<Buffer> {
    const { response } =
      visitor.register === RegisterType.Input
        ? await this.#request(client.readInputRegisters(visitor.offset, visitor.limit))
        : await this.#request(client.readHoldingRegisters(visitor.offset, visitor.limit));
    return wordsToBuffer(response.body.valuesAsArray);
  }

  async #request<T>(request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (err) {
      throw new ModbusRequestError(`device ${this.id}: ${describe(err)}`, { cause: err });
    }
  }

  #connection(): Promise<ModbusTCPClient> {
    if (this.#client) return Promise.resolve(this.#client);
    if (Date.now() < this.#nextConnectAt)
      return Promise.reject(new ModbusRequestError(`device ${this.id}: waiting before reconnecting`));
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = undefined));
    return this.#connecting;
  }

  async #connect(): Promise<ModbusTCPClient> {
    const { host, port, slaveId } = this.tcp;
    const socket = new Socket();
    // The client listens for the socket's connect event, so it must exist before the dial.
    const client = new ModbusTCPClient(socket, slaveId, this.options.requestTimeoutMs);
    this.#socket = socket;
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          socket.destroy();
          reject(new ModbusRequestError(`connect to ${host}:${port} timed out`));
        }, this.options.connectTimeoutMs);
        socket.once("connect", () => {
          clearTimeout(timer);
          resolve();
        });
        socket.once("error", (err) => {
          clearTimeout(timer);
          reject(new ModbusRequestError(`connect to ${host}:${port}: ${err.message}`, { cause: err }));
        });
        // Destroyed while dialling (stop()): no error event, only close.
        socket.once("close", () => {
          clearTimeout(timer);
          reject(new ModbusRequestError(`connect to ${host}:${port}: closed`));
        });
        socket.connect({ host, port });
      });
    } catch (err) {
      socket.destroy();
      this.#failures++;
      this.#nextConnectAt =
        Date.now() +
        Math.min(
          this.options.maxReconnectMs,
          this.options.reconnectMs * 2 ** Math.min(this.#failures - 1, 20),
        );
      this.#setState("offline");
      throw err;
    }
    if (this.#stopped) {
      socket.destroy();
      throw new ModbusRequestError(`device ${this.id} stopped`);
    }
    this.#failures = 0;
    socket.on("error", (err) => this.log.debug({ device: this.id, err: err.message }, "modbus socket error"));
    socket.once("close", () => {
      if (this.#socket === socket) {
        this.#socket = undefined;
        this.#client = undefined;
        if (!this.#stopped) this.#setState("offline");
      }
    });
    this.#client = client;
    this.#setState("online");
    return client;
  }

  #report(plan: PropertyPlan, value: string): void {
    const now = Date.now();
    const applied = this.#applied.get(plan.name);
    this.bus.publish(
      deviceTopic(this.id, TwinSuffix.Update),
      JSON.stringify({
        event_id: randomUUID(),
        timestamp: now,
        twin: {
          [plan.name]: {
            actual: { value, metadata: { timestamp: now } },
            ...(applied !== undefined && { expected: { value: applied } }),
            metadata: { type: plan.twinType },
          },
        },
      }),
    );
  }

  #setState(state: "online" | "offline"): void {
    if (this.#state === state || this.#stopped) return;
    this.#state = state;
    this.bus.publish(
      deviceTopic(this.id, TwinSuffix.StateUpdate),
      JSON.stringify({ event_id: randomUUID(), timestamp: Date.now(), state }),
    );
  }
}

export class ModbusMapper {
  readonly #bus: DeviceBus;
  readonly #devices = new Map<string, ModbusDevice>();
  /** device id → the profile text it was configured from (identical republishes are ignored). */
  readonly #profiles = new Map<string, string>();
  readonly #options: Required<Omit<ModbusMapperOptions, "log" | "clientId">>;
  readonly #log: Logger;
  #stopped: Promise<void> | undefined;

  constructor(options: ModbusMapperOptions, dependencies: { readonly bus?: DeviceBus } = {}) {
    if (!isTopicLevel(options.nodeName))
      throw new DeviceOptionError("nodeName", "must be non-empty without '/', '+', '#'");
    checkBrokerUrl(options.brokerUrl, "brokerUrl");
    this.#options = {
      brokerUrl: options.brokerUrl,
      nodeName: options.nodeName,
      protocolName: options.protocolName ?? MODBUS_MAPPER_DEFAULTS.protocolName,
      requestTimeoutMs: options.requestTimeoutMs ?? MODBUS_MAPPER_DEFAULTS.requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs ?? MODBUS_MAPPER_DEFAULTS.connectTimeoutMs,
      defaultCollectCycleMs: options.defaultCollectCycleMs ?? MODBUS_MAPPER_DEFAULTS.defaultCollectCycleMs,
      reconnectMs: options.reconnectMs ?? MODBUS_MAPPER_DEFAULTS.reconnectMs,
      maxReconnectMs: options.maxReconnectMs ?? MODBUS_MAPPER_DEFAULTS.maxReconnectMs,
    };
    for (const field of [
      "requestTimeoutMs",
      "connectTimeoutMs",
      "defaultCollectCycleMs",
      "reconnectMs",
    ] as const)
      if (!(this.#options[field] > 0)) throw new DeviceOptionError(field, "must be > 0");
    this.#log = options.log.child({ component: "modbus-mapper", node: options.nodeName });
    this.#bus =
      dependencies.bus ??
      new MqttEventBus({
        url: options.brokerUrl,
        clientId: options.clientId ?? `edgefleet-modbus-${options.nodeName}-${randomUUID().slice(0, 8)}`,
        subscriptions: [profileFilter(options.nodeName)],
        log: this.#log,
      });
    this.#bus.onMessage((topic, payload) => this.#onMessage(topic, payload));
  }

  get busStatus(): BusStatus {
    return this.#bus.status;
  }

  /** Ids of the devices being served. */
  get devices(): string[] {
    return [...this.#devices.keys()];
  }

  async start(): Promise<void> {
    this.#bus.start();
  }

  connected(): Promise<void> {
    return this.#bus.connected();
  }

  /** Stops every device and disconnects; safe to call twice. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      await Promise.all([...this.#devices.values()].map((d) => d.stop()));
      this.#devices.clear();
      await this.#bus.close();
    })();
    return this.#stopped;
  }

  #onMessage(topic: string, payload: Buffer): void {
    if (this.#stopped) return;
    const parsed = parseTopic(topic);
    if (parsed?.kind === "profile" && parsed.nodeName === this.#options.nodeName) {
      this.#onProfile(parsed.deviceId, payload.toString("utf8"));
    } else if (parsed?.kind === "device" && parsed.suffix === TwinSuffix.Delta) {
      const device = this.#devices.get(parsed.deviceId);
      if (!device) return;
      let delta: z.infer<typeof DeltaPayload>;
      try {
        delta = DeltaPayload.parse(JSON.parse(payload.toString("utf8")));
      } catch (err) {
        this.#log.warn({ topic, err: describe(err) }, "delta payload refused");
        return;
      }
      device.applyDelta(delta.delta);
    }
  }

  #onProfile(id: string, text: string): void {
    if (this.#profiles.get(id) === text) return;
    this.#remove(id);
    if (text === "") return;
    let profile: DeviceProfile;
    try {
      profile = DeviceProfile.parse(JSON.parse(text));
    } catch (err) {
      // A profile of a newer format, or garbage: not ours to serve.
      this.#log.warn({ device: id, format: PROFILE_FORMAT, err: describe(err) }, "device profile refused");
      return;
    }
    if (profile.protocol.protocolName !== this.#options.protocolName) return;
    let tcp: ModbusTcpConfig;
    try {
      tcp = parseTcpConfig(profile.protocol.configData);
    } catch (err) {
      this.#log.warn({ device: id, err: describe(err) }, "device not served: bad protocol config");
      return;
    }
    const plans = new Map<string, PropertyPlan>();
    for (const p of profile.properties) {
      try {
        const visitor = parseVisitor(p.visitors.configData, p.type);
        plans.set(p.name, {
          name: p.name,
          twinType: (p.type || visitor.dataType).toLowerCase(),
          visitor,
          writable: p.accessMode === "ReadWrite" && WRITABLE_REGISTERS.has(visitor.register),
          reportToCloud: p.reportToCloud,
          cycleMs: collectCycleMs(p.collectCycle, this.#options.defaultCollectCycleMs),
        });
      } catch (err) {
        if (!(err instanceof ModbusConfigError)) throw err;
        this.#log.warn({ device: id, property: p.name, err: err.message }, "property not served");
      }
    }
    const device = new ModbusDevice(
      id,
      tcp,
      plans,
      this.#bus,
      this.#options,
      this.#log.child({ device: id }),
    );
    this.#devices.set(id, device);
    this.#profiles.set(id, text);
    this.#bus.subscribe(deviceTopic(id, TwinSuffix.Delta));
    device.start();
    this.#log.info(
      { device: id, host: tcp.host, port: tcp.port, properties: [...plans.keys()] },
      "serving device",
    );
  }

  #remove(id: string): void {
    const device = this.#devices.get(id);
    this.#profiles.delete(id);
    if (!device) return;
    this.#devices.delete(id);
    this.#bus.unsubscribe(deviceTopic(id, TwinSuffix.Delta));
    void device.stop();
    this.#log.info({ device: id }, "device no longer served");
  }
}
