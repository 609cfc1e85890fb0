/**
 * DeviceTwin: the edge's device module (KubeEdge's edge/pkg/devicetwin). Holds the node's devices
 * and their twins in SQLite; serves mappers over MQTT (`$hw/events/...`); turns the Device's
 * desired values into deltas for the mapper; sends reported twins and device states to the cloud,
 * keeping them while the cloud is unreachable.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { Group } from "../../protocol/constants.js";
import type { Message } from "../../protocol/message.js";
import { kubeTime } from "../upstream/requests.js";
import { DeviceBusClosedError, DevicePayloadError, InvalidDeviceObjectError } from "./errors.js";
import { MqttEventBus, type BusStatus, type DeviceBus } from "./event-bus.js";
import { parseDeviceTwinOptions, type DeviceTwinOptions, type ResolvedDeviceTwinOptions } from "./options.js";
import {
  DEVICE_STATES,
  DeviceModelObject,
  DeviceObject,
  describeZodError,
  errorResult,
  eventIdOf,
  GetPayload,
  MembershipDetail,
  MembershipUpdate,
  ONLINE_STATES,
  StateUpdatePayload,
  TwinUpdatePayload,
  type MemberDevice,
  type MemberJson,
  type MsgTwinJson,
  type StateReport,
  type TwinDelta,
  type TwinDocument,
  type TwinResult,
} from "./payloads.js";
import { ReportSender, type ReportSenderStats } from "./report-sender.js";
import {
  deviceTopic,
  edgeSubscriptions,
  MembershipSuffix,
  nodeTopic,
  parseTopic,
  profileTopic,
  splitDeviceId,
  TwinSuffix,
} from "./topics.js";
import {
  buildProfile,
  desiredTwins,
  pendingDelta,
  twinJson,
  valueProblem,
  type TwinRecord,
} from "./twin-logic.js";
import {
  TwinStore,
  type DeviceRecord,
  type Member,
  type ReportedTwin,
  type TwinChange,
} from "./twin-store.js";

/** An object MetaManager stored (KubeEdge's metamanager → devicetwin MetaDeviceOperation). */
export interface CloudObjectChange {
  readonly operation: "insert" | "update" | "delete";
  readonly namespace: string;
  /** `device` and `devicemodel` are handled; other types are ignored. */
  readonly type: string;
  readonly name: string;
  readonly object: unknown;
}

export interface DeviceTwinStats {
  /** MQTT messages handled, by outcome. */
  readonly handled: number;
  readonly badPayloads: number;
  readonly unknownDevices: number;
  readonly reports: ReportSenderStats;
}

const REPORT_TWIN = "twin/edge_updated";
const REPORT_STATE = "state/update";

/** Merges a waiting edge_updated report with a newer one: newer properties win. */
function mergeTwinReports(waiting: unknown, next: unknown): unknown {
  const a = waiting as { twin?: Record<string, unknown> };
  const b = next as { twin?: Record<string, unknown> };
  return { ...b, twin: { ...a.twin, ...b.twin } };
}

const replaceReport = (_waiting: unknown, next: unknown): unknown => next;

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString("utf8")) as unknown;
  } catch (err) {
    throw new DevicePayloadError("payload is not JSON", 400, { cause: err });
  }
}

export class DeviceTwin {
  readonly #options: ResolvedDeviceTwinOptions;
  readonly #store: TwinStore;
  readonly #bus: DeviceBus;
  readonly #sender: ReportSender;
  readonly #log: Logger;
  /** device id → the state last queued for the cloud, and when. */
  readonly #stateSent = new Map<string, { state: string; at: number }>();
  #stats = { handled: 0, badPayloads: 0, unknownDevices: 0 };
  #stopped: Promise<void> | undefined;

  /** `bus` replaces the MQTT connection (tests inject their own DeviceBus). */
  constructor(options: DeviceTwinOptions, dependencies: { readonly bus?: DeviceBus } = {}) {
    this.#options = parseDeviceTwinOptions(options);
    const { nodeName, log } = this.#options;
    this.#log = log.child({ component: "devicetwin", node: nodeName });
    this.#store = new TwinStore(options.db);
    this.#bus =
      dependencies.bus ??
      new MqttEventBus({
        url: options.brokerUrl,
        clientId: options.clientId ?? `edgefleet-devicetwin-${nodeName}-${randomUUID().slice(0, 8)}`,
        subscriptions: edgeSubscriptions(nodeName),
        log: this.#log,
        backoff: this.#options.busBackoff,
        ...(options.random && { random: options.random }),
      });
    this.#bus.onMessage((topic, payload) => this.#onMqtt(topic, payload));
    this.#bus.onConnected(() => this.#onBrokerConnected());
    this.#sender = new ReportSender({
      queue: this.#store,
      upstream: options.upstream,
      log: this.#log,
      retry: this.#options.reportRetry,
      maxAttempts: this.#options.maxReportAttempts,
      ...(options.random && { random: options.random }),
    });
  }

  get busStatus(): BusStatus {
    return this.#bus.status;
  }

  get stats(): DeviceTwinStats {
    return { ...this.#stats, reports: this.#sender.stats };
  }

  /** Connects to the broker in the background and sends reports left from before a restart. */
  async start(): Promise<void> {
    if (this.#stopped) throw new DeviceBusClosedError("devicetwin is stopped");
    this.#bus.start();
    this.#sender.kick();
  }

  /** Resolves once the broker connection is up and subscribed. */
  connected(): Promise<void> {
    return this.#bus.connected();
  }

  /** Stops retries and disconnects from the broker; safe to call twice. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#sender.close();
      await this.#bus.close();
    })();
    return this.#stopped;
  }

  /** The tunnel to the cloud is up: send the queued reports now. */
  onCloudConnected(): void {
    this.#sender.onCloudConnected();
  }

  devices(): DeviceRecord[] {
    return this.#store.devices();
  }

  device(id: string): DeviceRecord | undefined {
    return this.#store.device(id);
  }

  twins(id: string): TwinRecord[] {
    return this.#store.twins(id);
  }

  /**
   * A Device or DeviceModel the cloud sent, after MetaManager stored it. Rejects with
   * InvalidDeviceObjectError (nothing applied) when the object is not usable.
   */
  async applyCloudObject(change: CloudObjectChange): Promise<void> {
    if (change.type === "device") this.#applyDeviceChange(change);
    else if (change.type === "devicemodel") this.#applyModelChange(change);
  }

  /** A `twin` group message from the cloud (membership update or detail). */
  async handleCloudMessage(message: Message): Promise<void> {
    if (message.route.group !== Group.Twin || message.header.parent_msg_id) return;
    const resource = message.route.resource ?? "";
    let content: unknown = message.content;
    if (typeof content === "string") {
      try {
        content = JSON.parse(content) as unknown;
      } catch {
        this.#log.warn({ resource }, "twin message content is not JSON; ignored");
        return;
      }
    }
    if (resource.includes("membership/detail")) {
      const parsed = MembershipDetail.safeParse(content);
      if (!parsed.success) return this.#refuseCloud(resource, describeZodError(parsed.error));
      const { added, removed } = this.#store.replaceMembers(this.#members(parsed.data.devices), this.#now());
      this.#membershipChanged(added, removed);
    } else if (resource === "membership" || resource.endsWith("/membership")) {
      const parsed = MembershipUpdate.safeParse(content);
      if (!parsed.success) return this.#refuseCloud(resource, describeZodError(parsed.error));
      const added = this.#store.addMembers(this.#members(parsed.data.added_devices), this.#now());
      const removed = this.#store.removeDevices(this.#members(parsed.data.removed_devices).map((m) => m.id));
      this.#membershipChanged(added, removed);
    } else {
      // twin/cloud_updated (v1alpha2 desired values) is not sent by a v1beta1 cloud.
      this.#log.debug({ resource, operation: message.route.operation }, "twin message ignored");
    }
  }

  // ---- cloud objects ----

  #applyDeviceChange(change: CloudObjectChange): void {
    const id = `${change.namespace}/${change.name}`;
    if (change.operation === "delete") {
      const removed = this.#store.removeDevices([id]);
      this.#membershipChanged([], removed);
      return;
    }
    const parsed = DeviceObject.safeParse(change.object);
    if (!parsed.success)
      throw new InvalidDeviceObjectError(`device ${id}: ${describeZodError(parsed.error)}`);
    const device = parsed.data;
    if (device.metadata.namespace !== change.namespace || device.metadata.name !== change.name)
      throw new InvalidDeviceObjectError(
        `device ${id}: metadata names ${device.metadata.namespace}/${device.metadata.name}`,
      );
    this.#applyDevice(device, false);
  }

  #applyDevice(device: DeviceObject, modelChanged: boolean): void {
    const { namespace, name } = device.metadata;
    const id = `${namespace}/${name}`;
    const modelName = device.spec?.deviceModelRef?.name;
    const model = modelName ? this.#store.model(namespace, modelName) : undefined;
    const now = this.#now();
    const applied = this.#store.applyDevice(device, desiredTwins(device, model), now);
    if (applied.created) this.#membershipChanged([id], []);
    const record = this.#store.device(id);
    if (record && (applied.created || applied.specChanged || modelChanged)) this.#publishProfile(record);
    const desiredChanges = applied.changes.filter((c) => (c.before?.desired ?? null) !== c.after.desired);
    if (desiredChanges.length > 0) {
      this.#publishDocument(id, "", desiredChanges, now);
      this.#publishDelta(id);
    }
  }

  #applyModelChange(change: CloudObjectChange): void {
    if (change.operation === "delete") {
      this.#store.deleteModel(change.namespace, change.name);
    } else {
      const parsed = DeviceModelObject.safeParse(change.object);
      if (!parsed.success)
        throw new InvalidDeviceObjectError(
          `devicemodel ${change.namespace}/${change.name}: ${describeZodError(parsed.error)}`,
        );
      this.#store.putModel(parsed.data);
    }
    // Types, visitors and protocol defaults come from the model: recompute its devices' twins and profiles.
    for (const device of this.#store.devicesOfModel(change.namespace, change.name))
      if (device.object) this.#applyDevice(device.object, true);
  }

  #members(devices: readonly MemberDevice[] | null | undefined): Member[] {
    const members: Member[] = [];
    for (const d of devices ?? []) {
      const ref = splitDeviceId(d.id);
      if (!ref) {
        this.#log.warn({ id: d.id }, "membership names a device id that is not <namespace>/<name>; skipped");
        continue;
      }
      members.push({ id: d.id, name: d.name ?? ref.name, description: d.description ?? "" });
    }
    return members;
  }

  /** Tells mappers which devices came and went (KubeEdge publishes one update per device). */
  #membershipChanged(added: readonly string[], removed: readonly string[]): void {
    const now = this.#now();
    const topic = nodeTopic(this.#options.nodeName, MembershipSuffix.Updated);
    for (const id of added) {
      const device = this.#store.device(id);
      if (!device) continue;
      this.#publish(topic, {
        event_id: randomUUID(),
        timestamp: now,
        added_devices: [memberJson(device)],
        removed_devices: null,
      });
    }
    for (const id of removed) {
      const ref = splitDeviceId(id);
      this.#stateSent.delete(id);
      this.#bus.publish(profileTopic(this.#options.nodeName, id), "", { retain: true });
      this.#publish(topic, {
        event_id: randomUUID(),
        timestamp: now,
        added_devices: null,
        removed_devices: [{ id, name: ref?.name ?? id }],
      });
    }
  }

  #refuseCloud(resource: string, reason: string): void {
    this.#log.warn({ resource, reason }, "twin message from the cloud refused");
  }

  // ---- MQTT ----

  #onBrokerConnected(): void {
    // Retained profiles may be gone (a broker without persistence restarted) and deltas published
    // while disconnected were dropped: republish both.
    for (const device of this.#store.devices()) {
      this.#publishProfile(device);
      this.#publishDelta(device.id);
    }
  }

  #onMqtt(topic: string, payload: Buffer): void {
    const parsed = parseTopic(topic);
    if (!parsed) return;
    if (parsed.kind === "profile") {
      if (parsed.nodeName === this.#options.nodeName) this.#onRetainedProfile(parsed.deviceId, payload);
      return;
    }
    let resultTopic: string;
    let handle: () => void;
    if (parsed.kind === "node") {
      if (parsed.nodeName !== this.#options.nodeName || parsed.suffix !== MembershipSuffix.Get) return;
      resultTopic = nodeTopic(parsed.nodeName, MembershipSuffix.GetResult);
      handle = () => this.#onMembershipGet(payload);
    } else {
      const id = parsed.deviceId;
      switch (parsed.suffix) {
        case TwinSuffix.Update:
          resultTopic = deviceTopic(id, TwinSuffix.UpdateResult);
          handle = () => this.#onTwinUpdate(id, payload);
          break;
        case TwinSuffix.Get:
          resultTopic = deviceTopic(id, TwinSuffix.GetResult);
          handle = () => this.#onTwinGet(id, payload);
          break;
        case TwinSuffix.StateUpdate:
          resultTopic = deviceTopic(id, TwinSuffix.StateUpdateResult);
          handle = () => this.#onStateUpdate(id, payload);
          break;
        default:
          return;
      }
    }
    this.#stats.handled++;
    try {
      handle();
    } catch (err) {
      if (!(err instanceof DevicePayloadError)) throw err;
      if (err.status === 404) this.#stats.unknownDevices++;
      else this.#stats.badPayloads++;
      this.#log.warn({ topic, code: err.status, reason: err.message }, "device message refused");
      let eventId = "";
      try {
        eventId = eventIdOf(JSON.parse(payload.toString("utf8")));
      } catch {
        // Not JSON: answered without an event id.
      }
      this.#publish(resultTopic, errorResult(eventId, err.status, err.message, this.#now()));
    }
  }

  #requireDevice(id: string): DeviceRecord {
    const device = this.#store.device(id);
    if (!device)
      throw new DevicePayloadError(`device ${id} is not a member of node ${this.#options.nodeName}`, 404);
    return device;
  }

  #onTwinUpdate(id: string, payload: Buffer): void {
    const parsed = TwinUpdatePayload.safeParse(parseJson(payload));
    if (!parsed.success) throw new DevicePayloadError(describeZodError(parsed.error));
    const device = this.#requireDevice(id);
    const known = new Map(this.#store.twins(id).map((t) => [t.property, t]));
    const problems: string[] = [];
    const reported: ReportedTwin[] = [];
    for (const [property, twin] of Object.entries(parsed.data.twin)) {
      const held = known.get(property);
      if (device.object && !held) {
        problems.push(`${property}: device ${id} declares no such property`);
        continue;
      }
      const namedType = twin.metadata?.type?.toLowerCase();
      const type = held?.type || namedType || "";
      for (const value of [twin.actual?.value, twin.expected?.value]) {
        const problem = value === undefined ? undefined : valueProblem(type, value);
        if (problem) problems.push(`${property}: ${problem}`);
      }
      reported.push({
        property,
        ...(twin.actual && { actual: twin.actual.value }),
        ...(twin.expected && { expected: twin.expected.value }),
        ...(namedType && { type: namedType }),
      });
    }
    if (problems.length > 0) throw new DevicePayloadError(problems.join("; "));

    const eventId = parsed.data.event_id ?? "";
    const now = this.#now();
    const changes = this.#store.applyReport(id, reported, now);
    const current = new Map(this.#store.twins(id).map((t) => [t.property, t]));
    const result: TwinResult = {
      event_id: eventId,
      timestamp: now,
      twin: Object.fromEntries(
        reported.flatMap((r) => {
          const t = current.get(r.property);
          return t ? [[r.property, twinJson(t)]] : [];
        }),
      ),
    };
    this.#publish(deviceTopic(id, TwinSuffix.UpdateResult), result);
    if (changes.length > 0) {
      this.#publishDocument(id, eventId, changes, now);
      this.#queueTwinReport(id, changes, now);
    }
    // As KubeEdge: after every report, a delta while the device lacks a desired value.
    this.#publishDelta(id);
  }

  #onTwinGet(id: string, payload: Buffer): void {
    const parsed = GetPayload.safeParse(parseJson(payload));
    if (!parsed.success) throw new DevicePayloadError(describeZodError(parsed.error));
    this.#requireDevice(id);
    const result: TwinResult = {
      event_id: parsed.data.event_id ?? "",
      timestamp: this.#now(),
      twin: Object.fromEntries(this.#store.twins(id).map((t) => [t.property, twinJson(t)])),
    };
    this.#publish(deviceTopic(id, TwinSuffix.GetResult), result);
  }

  #onStateUpdate(id: string, payload: Buffer): void {
    const parsed = StateUpdatePayload.safeParse(parseJson(payload));
    if (!parsed.success) throw new DevicePayloadError(describeZodError(parsed.error));
    const { state } = parsed.data;
    const lower = state.toLowerCase();
    if (!DEVICE_STATES.has(lower))
      throw new DevicePayloadError(
        `state ${JSON.stringify(state)} is not one of ${[...DEVICE_STATES].join(", ")}`,
      );
    const device = this.#requireDevice(id);
    const now = this.#now();
    const lastOnline = ONLINE_STATES.has(lower) ? kubeTime(new Date(now)) : device.lastOnline;
    this.#store.setState(id, state, lastOnline, now);
    const report = (eventId: string): StateReport => ({
      event_id: eventId,
      timestamp: now,
      device: { name: device.name, state, ...(lastOnline && { lastOnlineTime: lastOnline }) },
    });
    this.#publish(deviceTopic(id, TwinSuffix.StateUpdateResult), report(parsed.data.event_id ?? ""));
    const sent = this.#stateSent.get(id);
    if (sent && sent.state === state && now - sent.at < this.#options.stateRefreshMs) return;
    this.#stateSent.set(id, { state, at: now });
    // KubeEdge sends the state report's JSON as a string.
    this.#store.enqueueReport(
      `device/${id}/${REPORT_STATE}`,
      JSON.stringify(report(randomUUID())),
      replaceReport,
      now,
    );
    this.#sender.kick();
  }

  #onMembershipGet(payload: Buffer): void {
    const parsed = GetPayload.safeParse(parseJson(payload));
    if (!parsed.success) throw new DevicePayloadError(describeZodError(parsed.error));
    this.#publish(nodeTopic(this.#options.nodeName, MembershipSuffix.GetResult), {
      event_id: parsed.data.event_id ?? "",
      timestamp: this.#now(),
      devices: this.#store.devices().map(memberJson),
    });
  }

  /** A retained profile of a device this node no longer holds (deleted while we were down): clear it. */
  #onRetainedProfile(id: string, payload: Buffer): void {
    if (payload.length === 0 || this.#store.device(id)?.object) return;
    this.#log.info({ device: id }, "clearing the profile of a device this node does not hold");
    this.#bus.publish(profileTopic(this.#options.nodeName, id), "", { retain: true });
  }

  // ---- outgoing ----

  #publish(topic: string, payload: object): void {
    if (!this.#bus.publish(topic, JSON.stringify(payload)))
      this.#log.debug({ topic }, "broker unreachable; message dropped");
  }

  #publishProfile(device: DeviceRecord): void {
    if (!device.object) return;
    const model = device.model ? this.#store.model(device.namespace, device.model) : undefined;
    const profile = buildProfile(device.object, model);
    if (profile)
      this.#bus.publish(profileTopic(this.#options.nodeName, device.id), JSON.stringify(profile), {
        retain: true,
      });
  }

  #publishDelta(id: string): void {
    const twins = this.#store.twins(id);
    const delta = pendingDelta(twins);
    if (Object.keys(delta).length === 0) return;
    const payload: TwinDelta = {
      event_id: randomUUID(),
      timestamp: this.#now(),
      twin: Object.fromEntries(twins.filter((t) => t.desired !== null).map((t) => [t.property, twinJson(t)])),
      delta,
    };
    this.#publish(deviceTopic(id, TwinSuffix.Delta), payload);
  }

  #publishDocument(id: string, eventId: string, changes: readonly TwinChange[], now: number): void {
    const document: TwinDocument = {
      event_id: eventId,
      timestamp: now,
      twin: Object.fromEntries(
        changes.map((c) => [
          c.after.property,
          { last: c.before ? twinJson(c.before) : null, current: twinJson(c.after) },
        ]),
      ),
    };
    this.#publish(deviceTopic(id, TwinSuffix.Document), document);
  }

  /** Queues `device/<id>/twin/edge_updated` with the changed twins, as devicetwin's dealSyncResult. */
  #queueTwinReport(id: string, changes: readonly TwinChange[], now: number): void {
    const twin: Record<string, MsgTwinJson> = {};
    for (const { after: t } of changes) {
      twin[t.property] = {
        ...(t.reported !== null && {
          actual: { value: t.reported, metadata: { timestamp: t.reportedAt ?? now } },
        }),
        ...(t.observedDesired !== null && {
          expected: { value: t.observedDesired, metadata: { timestamp: t.observedDesiredAt ?? now } },
        }),
        metadata: { type: t.type || "string" },
      };
    }
    const content = { event_id: randomUUID(), timestamp: now, twin };
    this.#store.enqueueReport(`device/${id}/${REPORT_TWIN}`, content, mergeTwinReports, now);
    this.#sender.kick();
  }

  #now(): number {
    return this.#options.now();
  }
}

function memberJson(device: DeviceRecord): MemberJson {
  return {
    id: device.id,
    name: device.name,
    ...(device.description && { description: device.description }),
    ...(device.state && { state: device.state }),
    ...(device.lastOnline && { last_online: device.lastOnline }),
  };
}
