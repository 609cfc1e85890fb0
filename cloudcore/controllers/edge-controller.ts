import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Operation, ResourceType, Source } from "../../protocol/constants.js";
import type { KubeRest } from "../kube/kube-rest.js";
import type { KubeObject, NodeJson, PodJson } from "../kube/objects.js";
import type { CloudcoreMetrics } from "../metrics.js";
import { objectForEdge, withoutStatus } from "./content-digest.js";
import {
  deletionStub,
  EDGE_NODE_LABEL,
  edgeResourceOf,
  nodeResource,
  podResource,
} from "./edge-resources.js";
import type { Informer, InformerEvent } from "./informer.js";
import { watchedInformer } from "./watched-informer.js";
import { NodePlacement } from "./node-placement.js";
import { parseReferenceKey, referenceKey, type ReferenceKey, type ReferenceKind } from "./pod-references.js";
import {
  downstream,
  outgoing,
  withKind,
  type DesiredSource,
  type DownstreamSink,
  type Outgoing,
} from "./downstream-message.js";

export interface EdgeControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly rest: KubeRest;
  readonly sink: DownstreamSink;
  readonly metrics: CloudcoreMetrics;
  readonly log: Logger;
  /**
   * Extra label selector for the edge Nodes this cloudcore serves (e.g. `region=eu`), so several
   * cloudcore clusters can share one apiserver without touching each other's nodes.
   */
  readonly edgeNodeSelector?: string;
}

const KIND_TYPE: Record<ReferenceKind, string> = {
  configmap: ResourceType.ConfigMap,
  secret: ResourceType.Secret,
};

/**
 * EdgeController, downstream half: list-watches edge Nodes, the pods bound to nodes, ConfigMaps and
 * Secrets, and sends each connected edge node the pods bound to it and the objects those pods
 * reference (nothing else: no secret reaches a node none of whose pods uses it). Objects go with
 * their resourceVersion and need an ack; a node that (re)connects is sent exactly the difference
 * between what it acked (ack store) and what it needs now, deletions included.
 */
export class EdgeController {
  readonly nodes: Informer<NodeJson>;
  readonly pods: Informer<PodJson>;
  readonly configMaps: Informer<KubeObject>;
  readonly secrets: Informer<KubeObject>;
  readonly placement = new NodePlacement();
  readonly #edgeNodes = new Set<string>();
  readonly #sources: DesiredSource[] = [];
  #synced: Promise<void> | undefined;
  readonly #log: Logger;

  constructor(private readonly options: EdgeControllerOptions) {
    this.#log = options.log.child({ component: "edgecontroller" });
    const informer = <T extends KubeObject>(
      resource: string,
      path: string,
      query: Record<string, string>,
      handle: (type: InformerEvent, object: T) => void,
    ): Informer<T> => watchedInformer<T>({ ...options, log: this.#log, resource, path, query, handle });
    this.nodes = informer<NodeJson>(
      "nodes",
      "/api/v1/nodes",
      { labelSelector: [EDGE_NODE_LABEL, options.edgeNodeSelector].filter(Boolean).join(",") },
      (t, n) => this.#onNode(t, n),
    );
    this.pods = informer<PodJson>("pods", "/api/v1/pods", { fieldSelector: "spec.nodeName!=" }, (t, p) =>
      this.#onPod(t, p),
    );
    this.configMaps = informer<KubeObject>("configmaps", "/api/v1/configmaps", {}, (t, o) =>
      this.#onReferenced("configmap", t, o),
    );
    this.secrets = informer<KubeObject>("secrets", "/api/v1/secrets", {}, (t, o) =>
      this.#onReferenced("secret", t, o),
    );
  }

  /** Starts the watches; resolves when all four caches hold a full list. */
  start(): Promise<void> {
    this.#synced ??= (async () => {
      for (const i of [this.nodes, this.pods, this.configMaps, this.secrets]) i.start();
      await Promise.all([this.nodes.synced, this.pods.synced, this.configMaps.synced, this.secrets.synced]);
    })();
    return this.#synced;
  }

  /** Another controller whose objects take part in every resync (the DeviceController). */
  addDesiredSource(source: DesiredSource): void {
    this.#sources.push(source);
  }

  isEdgeNode(node: string): boolean {
    return this.#edgeNodes.has(node);
  }

  /**
   * Sends `node` what it lacks: every object it needs whose content differs from what it acked,
   * and a delete for everything it acked that it no longer needs. Called when its tunnel opens.
   */
  async resync(node: string): Promise<{ sent: number; deleted: number }> {
    await this.start();
    const acked = await this.options.sink.acked(node);
    // From here to the end nothing awaits: the snapshot below and the live events after it are
    // queued in order, so a live change can never be overtaken by an older snapshot.
    if (!this.#edgeNodes.has(node)) return { sent: 0, deleted: 0 };
    const wanted = this.#desired(node);
    for (const source of this.#sources)
      for (const [resource, out] of source.desired(node)) wanted.set(resource, out);
    let sent = 0;
    let deleted = 0;
    const inserted: string[] = [];
    const removed: string[] = [];
    for (const [resource, out] of wanted) {
      const record = acked.get(resource);
      if (record && record.uid === out.meta.uid && record.digest === out.meta.digest) continue;
      // What the node holds an older version of is an update; what it never acked, an insert.
      const operation = record && record.uid === out.meta.uid ? Operation.Update : Operation.Insert;
      if (operation === Operation.Insert) inserted.push(resource);
      const message = { ...out.message, route: { ...out.message.route, operation } };
      void this.options.sink.deliver(node, message, out.meta);
      sent++;
    }
    for (const [resource, record] of acked) {
      if (wanted.has(resource)) continue;
      void this.options.sink.deliver(
        node,
        downstream(
          Operation.Delete,
          resource,
          deletionStub(resource, record.uid),
          record.resourceVersion,
          sourceOf(resource),
        ),
      );
      removed.push(resource);
      deleted++;
    }
    for (const source of this.#sources) source.afterResync?.(node, { inserted, deleted: removed });
    this.#log.info({ node, sent, deleted, acked: acked.size }, "node resynced");
    return { sent, deleted };
  }

  async stop(): Promise<void> {
    await Promise.all([this.nodes.stop(), this.pods.stop(), this.configMaps.stop(), this.secrets.stop()]);
  }

  /** Everything `node` should hold now, by wire resource. */
  #desired(node: string): Map<string, Outgoing> {
    const out = new Map<string, Outgoing>();
    const nodeObject = this.nodes.get("", node);
    if (nodeObject) {
      const message = nodeMessage(Operation.Update, nodeObject);
      out.set(nodeResource(node), message);
    }
    for (const key of this.placement.podsOn(node)) {
      const [namespace = "", name = ""] = key.split("/");
      const pod = this.pods.get(namespace, name);
      if (pod) out.set(podResource(namespace, name), podMessage(Operation.Insert, pod));
    }
    for (const ref of this.placement.referencesOf(node)) {
      const { kind, namespace, name } = parseReferenceKey(ref);
      const object = this.#cacheOf(kind).get(namespace, name);
      if (object)
        out.set(
          edgeResourceOf(KIND_TYPE[kind], namespace, name),
          referencedMessage(kind, Operation.Insert, object),
        );
    }
    return out;
  }

  #cacheOf(kind: ReferenceKind): Informer<KubeObject> {
    return kind === "configmap" ? this.configMaps : this.secrets;
  }

  #send(node: string, out: Outgoing): void {
    if (!this.#edgeNodes.has(node) || !this.options.sink.isConnected(node)) return;
    void this.options.sink.deliver(node, out.message, out.meta);
  }

  #onNode(type: InformerEvent, node: NodeJson): void {
    const name = node.metadata?.name ?? "";
    if (type === "DELETED") {
      this.#edgeNodes.delete(name);
      void this.options.sink.forgetNode(name).catch((err: unknown) => {
        this.#log.warn(
          { node: name, err: (err as Error).message },
          "forgetting a deleted node's acks failed",
        );
      });
      return;
    }
    const isNew = !this.#edgeNodes.has(name);
    this.#edgeNodes.add(name);
    if (isNew && this.options.sink.isConnected(name)) {
      // A connected node just became an edge node (or the cache just filled): send it everything.
      void this.resync(name).catch((err: unknown) => this.#resyncFailed(name, err));
      return;
    }
    this.#send(name, nodeMessage(Operation.Update, node));
  }

  #onPod(type: InformerEvent, pod: PodJson): void {
    const namespace = pod.metadata?.namespace ?? "";
    const name = pod.metadata?.name ?? "";
    const changes = type === "DELETED" ? this.placement.removePod(pod) : this.placement.setPod(pod);
    const node = pod.spec?.nodeName;
    if (node) {
      if (type === "DELETED") {
        this.#send(node, {
          message: downstream(
            Operation.Delete,
            podResource(namespace, name),
            withoutStatus(pod),
            pod.metadata?.resourceVersion,
          ),
          meta: {},
        });
      } else {
        // Insert the first time, update after; status-only changes are filtered by digest.
        this.#send(node, podMessage(type === "ADDED" ? Operation.Insert : Operation.Update, pod));
      }
    }
    for (const change of changes) {
      for (const ref of change.added) {
        const { kind, namespace: ns, name: refName } = parseReferenceKey(ref);
        const object = this.#cacheOf(kind).get(ns, refName);
        if (object) this.#send(change.node, referencedMessage(kind, Operation.Insert, object));
      }
      for (const ref of change.removed) {
        const { kind, namespace: ns, name: refName } = parseReferenceKey(ref);
        const resource = edgeResourceOf(KIND_TYPE[kind], ns, refName);
        const object = this.#cacheOf(kind).get(ns, refName);
        this.#send(change.node, {
          message: downstream(
            Operation.Delete,
            resource,
            object ? objectForEdge(object) : deletionStub(resource, undefined),
            object?.metadata?.resourceVersion,
          ),
          meta: {},
        });
      }
    }
  }

  #onReferenced(kind: ReferenceKind, type: InformerEvent, object: KubeObject): void {
    const namespace = object.metadata?.namespace ?? "";
    const name = object.metadata?.name ?? "";
    const ref: ReferenceKey = referenceKey(kind, namespace, name);
    const nodes = this.placement.nodesReferencing(ref);
    if (nodes.size === 0) return;
    const out =
      type === "DELETED"
        ? {
            message: downstream(
              Operation.Delete,
              edgeResourceOf(KIND_TYPE[kind], namespace, name),
              objectForEdge(object),
              object.metadata?.resourceVersion,
            ),
            meta: {},
          }
        : referencedMessage(kind, type === "ADDED" ? Operation.Insert : Operation.Update, object);
    for (const node of nodes) this.#send(node, out);
  }

  #resyncFailed(node: string, err: unknown): void {
    this.#log.error({ node, err: (err as Error).message }, "resync failed");
  }
}

function podMessage(operation: string, pod: PodJson): Outgoing {
  const content = withKind(withoutStatus(pod), "Pod");
  return outgoing(operation, podResource(pod.metadata?.namespace ?? "", pod.metadata?.name ?? ""), content);
}

/**
 * The Node goes to its edge with its conditions (the rest of the status stays in the cloud): when
 * the control plane marks the node's Ready condition Unknown (a Lease that came late), the edge
 * sees it and reports its status again, as the kubelet does on its next status sync.
 */
function nodeMessage(operation: string, node: NodeJson): Outgoing {
  const conditions = node.status?.conditions;
  const content = {
    ...withKind(withoutStatus(node), "Node"),
    ...(conditions !== undefined && { status: { conditions } }),
  };
  return outgoing(operation, nodeResource(node.metadata?.name ?? ""), content);
}

function referencedMessage(kind: ReferenceKind, operation: string, object: KubeObject): Outgoing {
  const content = withKind(objectForEdge(object), kind === "configmap" ? "ConfigMap" : "Secret");
  return outgoing(
    operation,
    edgeResourceOf(KIND_TYPE[kind], object.metadata?.namespace ?? "", object.metadata?.name ?? ""),
    content,
  );
}

/** The module that owns a kind of resource on the edge: device objects come from the devicecontroller. */
function sourceOf(resource: string): string {
  const type = resource.split("/")[1];
  return type === "device" || type === "devicemodel" ? Source.DeviceController : Source.EdgeController;
}
