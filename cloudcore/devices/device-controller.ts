import { randomUUID } from "node:crypto";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { z } from "zod";
import { Group, OK_CONTENT, Operation, Source } from "../../protocol/constants.js";
import { responseTo, type Message } from "../../protocol/message.js";
import { withoutStatus } from "../controllers/content-digest.js";
import {
  downstream,
  outgoing,
  withKind,
  type DesiredSource,
  type DownstreamSink,
  type Outgoing,
} from "../controllers/downstream-message.js";
import { edgeResourceOf } from "../controllers/edge-resources.js";
import type { Informer, InformerEvent } from "../controllers/informer.js";
import { watchedInformer } from "../controllers/watched-informer.js";
import { PatchType, statusCodeOf, type KubeRest } from "../kube/kube-rest.js";
import type { KubeObject } from "../kube/objects.js";
import { retryOn } from "../kube/retry.js";
import type { CloudcoreMetrics } from "../metrics.js";
import { DEVICE_GROUP, DEVICE_VERSION } from "./crds.js";
import type { DeviceJson, DeviceModelJson } from "./device-validation.js";

const API = `/apis/${DEVICE_GROUP}/${DEVICE_VERSION}`;
const API_VERSION = `${DEVICE_GROUP}/${DEVICE_VERSION}`;

/** One twin property as edges report it (KubeEdge's MsgTwin, the parts the cloud reads). */
const TwinValue = z.object({
  value: z.string(),
  metadata: z
    .object({ timestamp: z.union([z.number(), z.string()]).optional() })
    .passthrough()
    .optional(),
});
const TwinUpdate = z
  .object({
    event_id: z.string().optional(),
    timestamp: z.number().optional(),
    twin: z.record(
      z
        .object({
          expected: TwinValue.nullable().optional(),
          actual: TwinValue.nullable().optional(),
          metadata: z.object({ type: z.string().optional() }).passthrough().nullable().optional(),
        })
        .passthrough(),
    ),
  })
  .passthrough();
const StateUpdate = z
  .object({
    device: z
      .object({ name: z.string().optional(), state: z.string(), lastOnlineTime: z.string().optional() })
      .passthrough(),
  })
  .passthrough();

interface TwinStatus {
  propertyName: string;
  reported?: { value: string; metadata?: Record<string, string> };
  observedDesired?: { value: string; metadata?: Record<string, string> };
}

interface DeviceStatusJson extends KubeObject {
  status?: { twins?: TwinStatus[]; state?: string; lastOnlineTime?: string; [field: string]: unknown };
}

export interface DeviceControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly rest: KubeRest;
  readonly sink: DownstreamSink;
  /** Is this Node an edge node (the EdgeController's cache)? */
  readonly isEdgeNode: (node: string) => boolean;
  /** Throws unless this replica still owns the node (fencing); awaited before every write. */
  readonly fence?: (node: string) => Promise<void>;
  readonly metrics: CloudcoreMetrics;
  readonly log: Logger;
}

/**
 * DeviceController, as KubeEdge's: a Device bound to an edge node (`spec.nodeName`) goes down as a
 * membership update (group twin, no ack) plus its DeviceModel and the Device itself (acked, with
 * resourceVersion), and comes off the node the same way when deleted or moved. Unlike KubeEdge, a
 * DeviceModel change is sent to the nodes whose devices use it. Reported twins and device state come
 * up as `device/<ns>/<name>/twin/edge_updated` and `.../state/update` and are written to the
 * DeviceStatus object of the same name (KubeEdge v1beta1 keeps them there, not in Device.status).
 */
export class DeviceController implements DesiredSource {
  readonly devices: Informer<DeviceJson>;
  readonly models: Informer<DeviceModelJson>;
  /** node → device keys (`<ns>/<name>`) bound to it. */
  readonly #devicesByNode = new Map<string, Set<string>>();
  /** device key → node it was last seen bound to. */
  readonly #nodeOf = new Map<string, string>();
  #synced: Promise<void> | undefined;
  readonly #log: Logger;

  constructor(private readonly options: DeviceControllerOptions) {
    this.#log = options.log.child({ component: "devicecontroller" });
    const informer = <T extends KubeObject>(
      resource: string,
      handle: (type: InformerEvent, object: T) => void,
    ): Informer<T> =>
      watchedInformer<T>({ ...options, log: this.#log, resource, path: `${API}/${resource}`, handle });
    this.devices = informer<DeviceJson>("devices", (t, d) => this.#onDevice(t, d));
    this.models = informer<DeviceModelJson>("devicemodels", (t, m) => this.#onModel(t, m));
  }

  /** Starts the watches (the CRDs must exist); resolves when both caches hold a full list. */
  start(): Promise<void> {
    this.#synced ??= (async () => {
      this.models.start();
      this.devices.start();
      await Promise.all([this.models.synced, this.devices.synced]);
    })();
    return this.#synced;
  }

  async stop(): Promise<void> {
    await Promise.all([this.devices.stop(), this.models.stop()]);
  }

  /** A DeviceModel from the cache, else from the apiserver (for the validating webhook). */
  async model(namespace: string, name: string): Promise<DeviceModelJson | undefined> {
    const cached = this.models.get(namespace, name);
    if (cached) return cached;
    try {
      return await this.options.rest.get<DeviceModelJson>(
        `${API}/namespaces/${namespace}/devicemodels/${name}`,
      );
    } catch (err) {
      if (statusCodeOf(err) === 404) return undefined;
      throw err;
    }
  }

  desired(node: string): Map<string, Outgoing> {
    const out = new Map<string, Outgoing>();
    for (const key of this.#devicesByNode.get(node) ?? []) {
      const [namespace = "", name = ""] = key.split("/");
      const device = this.devices.get(namespace, name);
      if (!device) continue;
      out.set(deviceResource(namespace, name), deviceMessage(Operation.Insert, device));
      const model = this.#modelOf(device);
      if (model)
        out.set(modelResource(namespace, model.metadata?.name ?? ""), modelMessage(Operation.Insert, model));
    }
    return out;
  }

  afterResync(
    node: string,
    change: { readonly inserted: readonly string[]; readonly deleted: readonly string[] },
  ): void {
    const ids = (resources: readonly string[]): string[] =>
      resources
        .filter((r) => r.split("/")[1] === "device")
        .map((r) => {
          const [namespace = "", , name = ""] = r.split("/");
          return `${namespace}/${name}`;
        });
    const added = ids(change.inserted);
    const removed = ids(change.deleted);
    if (added.length > 0 || removed.length > 0) this.#membership(node, added, removed);
  }

  /** Handles an edge's twin or state report; returns the reply, or undefined if it is not one. */
  async handleUpstream(node: string, message: Message): Promise<Message | undefined> {
    const resource = message.route.resource ?? "";
    const match = /^device\/([^/]+)\/([^/]+)\/(twin\/edge_updated|state\/update)$/.exec(resource);
    if (!match) return undefined;
    const [, namespace = "", name = "", kind] = match;
    const reply = (content: unknown): Message => {
      const r = responseTo(message, content);
      return {
        ...r,
        route: { ...r.route, source: Source.DeviceController, group: Group.Twin, resource: "twin" },
      };
    };
    const device = this.devices.get(namespace, name);
    if (device?.spec?.nodeName !== node) {
      this.options.metrics.upstreamRequests.inc({ type: "device", operation: kind ?? "", result: "403" });
      return reply(`device ${namespace}/${name} is not bound to node ${node}`);
    }
    try {
      await this.options.fence?.(node);
      const content =
        typeof message.content === "string" ? (JSON.parse(message.content) as unknown) : message.content;
      if (kind === "twin/edge_updated") await this.#writeTwins(device, TwinUpdate.parse(content));
      else await this.#writeState(device, StateUpdate.parse(content));
      this.options.metrics.upstreamRequests.inc({ type: "device", operation: kind ?? "", result: "ok" });
      return reply(OK_CONTENT);
    } catch (err) {
      this.options.metrics.upstreamRequests.inc({ type: "device", operation: kind ?? "", result: "error" });
      this.#log.warn(
        { node, device: `${namespace}/${name}`, err: (err as Error).message },
        "device report refused",
      );
      return reply(`device report refused: ${(err as Error).message}`);
    }
  }

  #onDevice(type: InformerEvent, device: DeviceJson): void {
    const namespace = device.metadata?.namespace ?? "";
    const name = device.metadata?.name ?? "";
    const key = `${namespace}/${name}`;
    const before = this.#nodeOf.get(key);
    const after = type === "DELETED" ? undefined : device.spec?.nodeName || undefined;
    if (before && before !== after) {
      this.#unbind(key, before);
      this.#send(
        before,
        downstream(
          Operation.Delete,
          deviceResource(namespace, name),
          withoutStatus(device),
          device.metadata?.resourceVersion,
          Source.DeviceController,
        ),
      );
      this.#membership(before, [], [key]);
      const model = this.#modelOf(device);
      if (model && !this.#modelUsedOn(before, namespace, model.metadata?.name ?? "")) {
        this.#send(
          before,
          downstream(
            Operation.Delete,
            modelResource(namespace, model.metadata?.name ?? ""),
            model,
            model.metadata?.resourceVersion,
            Source.DeviceController,
          ),
        );
      }
    }
    if (!after) return;
    const isNew = before !== after;
    if (isNew) this.#bind(key, after);
    if (isNew) this.#membership(after, [key], []);
    const model = this.#modelOf(device);
    if (model) this.#deliver(after, modelMessage(isNew ? Operation.Insert : Operation.Update, model));
    this.#deliver(after, deviceMessage(isNew ? Operation.Insert : Operation.Update, device));
  }

  #onModel(type: InformerEvent, model: DeviceModelJson): void {
    if (type === "DELETED") return; // Devices keep the last model they were sent (as in KubeEdge).
    const namespace = model.metadata?.namespace ?? "";
    const name = model.metadata?.name ?? "";
    const nodes = new Set<string>();
    for (const [key, node] of this.#nodeOf) {
      const [ns = "", deviceName = ""] = key.split("/");
      if (ns === namespace && this.devices.get(ns, deviceName)?.spec?.deviceModelRef?.name === name)
        nodes.add(node);
    }
    for (const node of nodes) this.#deliver(node, modelMessage(Operation.Update, model));
  }

  #modelOf(device: DeviceJson): DeviceModelJson | undefined {
    const name = device.spec?.deviceModelRef?.name;
    return name ? this.models.get(device.metadata?.namespace ?? "", name) : undefined;
  }

  #modelUsedOn(node: string, namespace: string, model: string): boolean {
    for (const key of this.#devicesByNode.get(node) ?? []) {
      const [ns = "", name = ""] = key.split("/");
      if (ns === namespace && this.devices.get(ns, name)?.spec?.deviceModelRef?.name === model) return true;
    }
    return false;
  }

  #bind(key: string, node: string): void {
    this.#nodeOf.set(key, node);
    let set = this.#devicesByNode.get(node);
    if (!set) this.#devicesByNode.set(node, (set = new Set()));
    set.add(key);
  }

  #unbind(key: string, node: string): void {
    this.#nodeOf.delete(key);
    const set = this.#devicesByNode.get(node);
    set?.delete(key);
    if (set?.size === 0) this.#devicesByNode.delete(node);
  }

  #deliver(node: string, out: Outgoing): void {
    if (!this.options.isEdgeNode(node) || !this.options.sink.isConnected(node)) return;
    void this.options.sink.deliver(node, out.message, out.meta);
  }

  #send(node: string, message: Message): void {
    this.#deliver(node, { message, meta: {} });
  }

  /** KubeEdge's MembershipUpdate: which devices the node's devicetwin should hold. */
  #membership(node: string, added: string[], removed: string[]): void {
    const entry = (id: string): { id: string; name: string; description: string } => {
      const [namespace = "", name = ""] = id.split("/");
      const description = this.devices.get(namespace, name)?.metadata?.["labels"] as
        Record<string, string> | undefined;
      return { id, name, description: description?.["description"] ?? "" };
    };
    this.#send(
      node,
      downstream(
        Operation.Update,
        "membership",
        {
          event_id: randomUUID(),
          timestamp: Date.now(),
          added_devices: added.length > 0 ? added.map(entry) : null,
          removed_devices: removed.length > 0 ? removed.map(entry) : null,
        },
        undefined,
        Source.DeviceController,
        Group.Twin,
      ),
    );
  }

  async #writeTwins(device: DeviceJson, update: z.infer<typeof TwinUpdate>): Promise<void> {
    const properties = new Set((device.spec?.properties ?? []).map((p) => p.name ?? ""));
    await this.#editStatus(device, (status) => {
      const twins = new Map((status.twins ?? []).map((t) => [t.propertyName, { ...t }]));
      for (const [property, twin] of Object.entries(update.twin)) {
        if (!properties.has(property)) continue;
        const entry = twins.get(property) ?? { propertyName: property };
        const meta = (v: z.infer<typeof TwinValue>): Record<string, string> => ({
          ...(v.metadata?.timestamp !== undefined && { timestamp: String(v.metadata.timestamp) }),
          ...(twin.metadata?.type !== undefined && { type: twin.metadata.type }),
        });
        if (twin.actual) entry.reported = { value: twin.actual.value, metadata: meta(twin.actual) };
        if (twin.expected)
          entry.observedDesired = { value: twin.expected.value, metadata: meta(twin.expected) };
        twins.set(property, entry);
      }
      return { twins: [...twins.values()] };
    });
  }

  async #writeState(device: DeviceJson, update: z.infer<typeof StateUpdate>): Promise<void> {
    await this.#editStatus(device, () => ({
      state: update.device.state,
      ...(update.device.lastOnlineTime && { lastOnlineTime: update.device.lastOnlineTime }),
    }));
  }

  /**
   * Merges into the DeviceStatus named like the Device (created, owned by the Device, if missing).
   * A merge patch replaces lists whole, so it carries the resourceVersion it was computed from and
   * is retried on conflict: a concurrent report is never lost.
   */
  async #editStatus(
    device: DeviceJson,
    edit: (status: NonNullable<DeviceStatusJson["status"]>) => Record<string, unknown>,
  ): Promise<void> {
    const namespace = device.metadata?.namespace ?? "";
    const name = device.metadata?.name ?? "";
    const path = `${API}/namespaces/${namespace}/devicestatuses/${name}`;
    const { rest } = this.options;
    await retryOn(async () => {
      const current = await this.#readOrCreateStatus(device, path);
      await rest.request("patch", path, {
        contentType: PatchType.Merge,
        body: {
          metadata: { resourceVersion: current.metadata?.resourceVersion },
          status: edit(current.status ?? {}),
        },
      });
    });
  }

  /** The Device's DeviceStatus, created (owned by the Device) if it does not exist yet. */
  async #readOrCreateStatus(device: DeviceJson, path: string): Promise<DeviceStatusJson> {
    const { rest } = this.options;
    const namespace = device.metadata?.namespace ?? "";
    const name = device.metadata?.name ?? "";
    try {
      return await rest.get<DeviceStatusJson>(path);
    } catch (err) {
      if (statusCodeOf(err) !== 404) throw err;
    }
    try {
      return await rest.request<DeviceStatusJson>("create", `${API}/namespaces/${namespace}/devicestatuses`, {
        body: {
          apiVersion: API_VERSION,
          kind: "DeviceStatus",
          metadata: {
            name,
            namespace,
            ownerReferences: [
              { apiVersion: API_VERSION, kind: "Device", name, uid: device.metadata?.uid, controller: true },
            ],
          },
          spec: {},
          status: {},
        },
      });
    } catch (err) {
      // Created concurrently (another report): read that one.
      if (statusCodeOf(err) !== 409) throw err;
      return rest.get<DeviceStatusJson>(path);
    }
  }
}

const deviceResource = (namespace: string, name: string): string => edgeResourceOf("device", namespace, name);
const modelResource = (namespace: string, name: string): string =>
  edgeResourceOf("devicemodel", namespace, name);

function deviceMessage(operation: string, device: DeviceJson): Outgoing {
  const content = withKind(withoutStatus(device as KubeObject), "Device", API_VERSION);
  return outgoing(
    operation,
    deviceResource(device.metadata?.namespace ?? "", device.metadata?.name ?? ""),
    content,
    Source.DeviceController,
  );
}

function modelMessage(operation: string, model: DeviceModelJson): Outgoing {
  const content = withKind(withoutStatus(model as KubeObject), "DeviceModel", API_VERSION);
  return outgoing(
    operation,
    modelResource(model.metadata?.namespace ?? "", model.metadata?.name ?? ""),
    content,
    Source.DeviceController,
  );
}
