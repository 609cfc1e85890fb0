import type { Logger } from "pino";
import { tryParseJson } from "../../protocol/json.js";
import { z } from "zod";
import { Group, OK_CONTENT, Operation, ResourceType, Source } from "../../protocol/constants.js";
import { responseTo, type Message } from "../../protocol/message.js";
import { parseResource, type ResourceRef } from "../../protocol/resource.js";
import { KubeApiError, PatchType, statusCodeOf, type KubeRest, type KubeStatus } from "../kube/kube-rest.js";
import type { KubeObject, NodeJson, PodJson } from "../kube/objects.js";
import type { CloudcoreMetrics } from "../metrics.js";
import { LEASE_NAMESPACE, leasePath, writeNodeLease } from "../kube/node-lease.js";
import { retryOn } from "../kube/retry.js";
import {
  assertNodeEpoch,
  OWNER_ANNOTATION,
  OWNER_EPOCH_ANNOTATION,
  withResourceVersion,
} from "../cluster/node-fence.js";
import { FencedError } from "../cluster/node-ownership.js";
import type { EdgeController } from "./edge-controller.js";
import { EDGE_NODE_LABEL } from "./edge-resources.js";
import { referenceKey } from "./pod-references.js";

/** A refusal or failure to put in a reply, as a Kubernetes Status. */
class UpstreamFailure extends Error {
  constructor(readonly status: KubeStatus) {
    super(status.message ?? "failed");
  }
}

const failure = (code: number, reason: string, message: string): UpstreamFailure =>
  new UpstreamFailure({ kind: "Status", apiVersion: "v1", status: "Failure", code, reason, message });
const forbidden = (message: string): UpstreamFailure => failure(403, "Forbidden", message);
const badRequest = (message: string): UpstreamFailure => failure(400, "BadRequest", message);

const ObjectContent = z
  .object({ metadata: z.object({}).passthrough().optional() })
  .passthrough()
  .refine((o) => typeof o === "object", "expected an object");
const LegacyNodeStatus = z
  .object({ UID: z.string().optional(), Status: z.object({}).passthrough() })
  .passthrough();
const LegacyPodStatus = z
  .object({ UID: z.string().optional(), Name: z.string().optional(), Status: z.object({}).passthrough() })
  .passthrough();
const DeleteOptions = z
  .object({
    gracePeriodSeconds: z.number().int().nonnegative().optional(),
    preconditions: z
      .object({ uid: z.string().optional(), resourceVersion: z.string().optional() })
      .passthrough()
      .optional(),
    propagationPolicy: z.string().optional(),
  })
  .passthrough();
const TokenRequest = z
  .object({
    spec: z
      .object({
        audiences: z.array(z.string()).optional(),
        expirationSeconds: z.number().int().positive().optional(),
        boundObjectRef: z
          .object({ kind: z.string().optional(), name: z.string().optional(), uid: z.string().optional() })
          .passthrough()
          .optional(),
      })
      .passthrough(),
  })
  .passthrough();

function parseContent<T>(schema: z.ZodType<T>, content: unknown, what: string): T {
  // A string is the JSON document itself (as edges send patches); one that is not JSON stays text.
  const json = typeof content === "string" ? tryParseJson(content) : undefined;
  const value = json === undefined ? content : json;
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw badRequest(
      `${what}: field ${issue?.path.join(".") || "(content)"}: ${issue?.message ?? "invalid"}`,
    );
  }
  return parsed.data;
}

export interface UpstreamOptions {
  readonly rest: KubeRest;
  readonly edge: EdgeController;
  readonly metrics: CloudcoreMetrics;
  readonly log: Logger;
  /** Throws unless this replica still owns the node (fencing); awaited before every write. */
  readonly fence?: (node: string) => Promise<void>;
  /**
   * The owner's tunnel port: written as the Node's kubelet endpoint port with every node status
   * write, so the apiserver's logs/exec connections are DNATed to this replica.
   */
  readonly kubeletPort?: () => number | undefined;
  /** This replica's fencing epoch for the node (cluster mode): Node writes are fenced in the apiserver too. */
  readonly epochOf?: (node: string) => number | undefined;
  /** This replica's id, recorded as the Node's owner when the edge registers it (cluster mode). */
  readonly ownerId?: string;
}

/**
 * EdgeController, upstream half: what an edge asks of the apiserver, done on its behalf and
 * answered down the same tunnel. Every request is checked against the node that sent it: a node
 * may register, patch and lease only itself, touch only pods bound to it, and read only the
 * ConfigMaps, Secrets and service account tokens its own pods use.
 */
export class Upstream {
  readonly #log: Logger;

  constructor(private readonly options: UpstreamOptions) {
    this.#log = options.log.child({ component: "upstream" });
  }

  /** Handles one edge request; resolves to the reply to send, or undefined if none is due. */
  async handle(node: string, message: Message): Promise<Message | undefined> {
    const operation = message.route.operation ?? "";
    let ref: ResourceRef;
    try {
      ref = parseResource(message.route.resource ?? "");
    } catch (err) {
      this.#count("invalid", operation, "bad_request");
      return this.#reply(message, { ErrStatus: badRequest((err as Error).message).status });
    }
    try {
      if (operation !== Operation.Query) await this.options.fence?.(node);
      const reply = await this.#dispatch(node, ref, operation, message);
      this.#count(ref.type, operation, "ok");
      return reply;
    } catch (err) {
      const status = statusOfError(err);
      this.#count(ref.type, operation, String(status.code ?? "error"));
      if (
        !(err instanceof UpstreamFailure) &&
        !(err instanceof KubeApiError) &&
        !(err instanceof FencedError)
      )
        this.#log.error(
          { node, resource: message.route.resource, operation, err },
          "upstream request failed",
        );
      else
        this.#log.info(
          { node, resource: message.route.resource, operation, code: status.code, reason: status.message },
          "upstream request refused",
        );
      return this.#errorReply(ref, operation, message, status);
    }
  }

  async #dispatch(
    node: string,
    ref: ResourceRef,
    operation: string,
    message: Message,
  ): Promise<Message | undefined> {
    const name = ref.name ?? "";
    const { rest } = this.options;
    switch (`${operation} ${ref.type}`) {
      case `${Operation.Insert} ${ResourceType.Node}`:
      case `${Operation.Update} ${ResourceType.Node}`:
        this.#requireSelf(node, name);
        return this.#objectReply(message, await this.#registerNode(node, message.content));
      case `${Operation.Query} ${ResourceType.Node}`:
        this.#requireSelf(node, name);
        return this.#objectReply(message, await rest.get(`/api/v1/nodes/${node}`));
      case `${Operation.Patch} ${ResourceType.NodePatch}`: {
        this.#requireSelf(node, name);
        const body = this.#withKubeletPort(patchBody(message.content));
        const patched = await this.#nodeWrite(node, (rv) =>
          rest.request<NodeJson>("patch", `/api/v1/nodes/${node}/status`, {
            rawBody: rv === undefined ? body : withResourceVersion(body, rv),
            contentType: PatchType.StrategicMerge,
          }),
        );
        return this.#objectReply(message, patched, patched.metadata?.resourceVersion);
      }
      case `${Operation.Update} ${ResourceType.NodeStatus}`: {
        this.#requireSelf(node, name);
        const legacy = parseContent(LegacyNodeStatus, message.content, "nodestatus");
        await this.#updateStatus<NodeJson>(
          `/api/v1/nodes/${node}`,
          legacy.UID,
          (current) => ({
            ...legacy.Status,
            ...this.#daemonEndpoints(),
            // The edge does not know which volumes the attach/detach controller attached.
            ...(current.status?.["volumesAttached"] !== undefined && {
              volumesAttached: current.status["volumesAttached"],
            }),
          }),
          (current) => {
            // The PUT carries this read's resourceVersion: checking its owner epoch fences it.
            const mine = this.options.epochOf?.(node);
            if (mine !== undefined) assertNodeEpoch(current, mine);
          },
        );
        return this.#reply(message, OK_CONTENT);
      }
      case `${Operation.Insert} ${ResourceType.Lease}`:
      case `${Operation.Update} ${ResourceType.Lease}`:
        this.#requireSelf(node, name);
        this.#requireNamespace(ref, LEASE_NAMESPACE);
        return this.#objectReply(message, await this.#renewLease(node, message.content));
      case `${Operation.Query} ${ResourceType.Lease}`:
        this.#requireSelf(node, name);
        this.#requireNamespace(ref, LEASE_NAMESPACE);
        return this.#objectReply(message, await rest.get(leasePath(node)));
      case `${Operation.Patch} ${ResourceType.PodPatch}`: {
        await this.#requireOwnPod(node, ref.namespace, name);
        const patched = await rest.request<PodJson>("patch", `${podPath(ref.namespace, name)}/status`, {
          rawBody: patchBody(message.content),
          contentType: PatchType.StrategicMerge,
        });
        return this.#objectReply(message, patched, patched.metadata?.resourceVersion);
      }
      case `${Operation.Update} ${ResourceType.PodStatus}`: {
        const legacy = parseContent(LegacyPodStatus, message.content, "podstatus");
        const podName = legacy.Name ?? name;
        await this.#requireOwnPod(node, ref.namespace, podName);
        await this.#updateStatus<PodJson>(podPath(ref.namespace, podName), legacy.UID, () => legacy.Status);
        return this.#reply(message, OK_CONTENT);
      }
      case `${Operation.Delete} ${ResourceType.Pod}`:
        await this.#requireOwnPod(node, ref.namespace, name);
        await this.#deletePod(ref.namespace, name, message.content);
        return this.#reply(message, OK_CONTENT);
      case `${Operation.Query} ${ResourceType.ConfigMap}`:
      case `${Operation.Query} ${ResourceType.Secret}`: {
        const kind = ref.type === ResourceType.ConfigMap ? "configmap" : "secret";
        if (!this.options.edge.placement.needs(node, referenceKey(kind, ref.namespace, name)))
          throw forbidden(`no pod on node ${node} references ${kind} ${ref.namespace}/${name}`);
        const cache = kind === "configmap" ? this.options.edge.configMaps : this.options.edge.secrets;
        const object = cache.get(ref.namespace, name);
        if (!object) throw failure(404, "NotFound", `${kind} ${ref.namespace}/${name} not found`);
        const rv = object.metadata?.resourceVersion;
        return this.#reply(message, object, rv);
      }
      case `${Operation.Query} ${ResourceType.ServiceAccountToken}`:
        return this.#reply(message, await this.#createToken(node, ref.namespace, name, message.content));
      default:
        throw failure(405, "MethodNotAllowed", `${operation} of ${ref.type} is not supported`);
    }
  }

  /** Creates the Node, or updates labels, annotations and status of an existing one. */
  async #registerNode(node: string, content: unknown): Promise<NodeJson> {
    const sent = parseContent(ObjectContent, content, "node") as NodeJson;
    const labels = { ...sent.metadata?.labels, [EDGE_NODE_LABEL]: "" };
    const body: NodeJson = {
      ...sent,
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        ...sent.metadata,
        name: node,
        labels,
        annotations: { ...edgeAnnotations(sent), ...this.#ownerAnnotations(node) },
      },
      ...(sent.status && { status: { ...sent.status, ...this.#daemonEndpoints() } }),
    };
    delete body.metadata?.resourceVersion;
    delete body.metadata?.uid;
    const { rest } = this.options;
    try {
      return await rest.request<NodeJson>("create", "/api/v1/nodes", { body });
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
    }
    // Re-registration (edge restarted, or re-joined): keep the Node, refresh what the edge owns.
    const metadataPatch = JSON.stringify({ metadata: { labels, annotations: edgeAnnotations(sent) } });
    let updated = await this.#nodeWrite(node, (rv) =>
      rest.request<NodeJson>("patch", `/api/v1/nodes/${node}`, {
        rawBody: rv === undefined ? metadataPatch : withResourceVersion(metadataPatch, rv),
        contentType: PatchType.Merge,
      }),
    );
    if (sent.status) {
      const statusPatch = JSON.stringify({ status: { ...sent.status, ...this.#daemonEndpoints() } });
      updated = await this.#nodeWrite(node, (rv) =>
        rest.request<NodeJson>("patch", `/api/v1/nodes/${node}/status`, {
          rawBody: rv === undefined ? statusPatch : withResourceVersion(statusPatch, rv),
          contentType: PatchType.StrategicMerge,
        }),
      );
    }
    return updated;
  }

  /**
   * A Node created by its first registration has no owner yet (the owner's acquisition found no
   * Node to annotate): it is created with this replica's owner and epoch, so its Node writes are
   * fenced in the apiserver from the start.
   */
  #ownerAnnotations(node: string): Record<string, string> {
    const epoch = this.options.epochOf?.(node);
    if (epoch === undefined || this.options.ownerId === undefined) return {};
    return { [OWNER_ANNOTATION]: this.options.ownerId, [OWNER_EPOCH_ANNOTATION]: String(epoch) };
  }

  /** Writes the edge's Lease: create if missing, else last writer wins (a renewal never conflicts). */
  async #renewLease(node: string, content: unknown): Promise<KubeObject> {
    const sent = parseContent(ObjectContent, content, "lease") as KubeObject;
    const spec = sent["spec"] as Record<string, unknown>;
    // A Lease deleted or created between the read and the write is retried too (404, 409).
    return writeNodeLease(this.options.rest, node, () => spec, {
      ownerReferences: sent.metadata?.ownerReferences,
      retryCodes: [409, 404],
    });
  }

  /** Replaces an object's status from a fresh read, retrying on conflict. */
  async #updateStatus<T extends KubeObject>(
    path: string,
    uid: string | undefined,
    status: (current: T) => Record<string, unknown>,
    check?: (current: T) => void,
  ): Promise<void> {
    await retryOn(async () => {
      const current = await this.options.rest.get<T>(path);
      check?.(current);
      if (uid && current.metadata?.uid !== uid)
        throw failure(409, "Conflict", `${path}: uid ${uid} is not the current object's`);
      await this.options.rest.request("update", `${path}/status`, {
        body: { ...current, status: status(current) },
      });
    });
  }

  /** The edge finished terminating a pod: remove it. Already gone (or replaced) counts as done. */
  async #deletePod(namespace: string, name: string, content: unknown): Promise<void> {
    const options =
      typeof content === "string" && !content.trimStart().startsWith("{")
        ? { gracePeriodSeconds: 0, preconditions: { uid: content } }
        : parseContent(DeleteOptions, content, "DeleteOptions");
    try {
      await this.options.rest.request("delete", podPath(namespace, name), {
        body: { apiVersion: "v1", kind: "DeleteOptions", ...options },
      });
    } catch (err) {
      const code = statusCodeOf(err);
      if (code !== 404 && code !== 409) throw err;
    }
  }

  async #createToken(
    node: string,
    namespace: string,
    serviceAccount: string,
    content: unknown,
  ): Promise<KubeObject> {
    const request = parseContent(TokenRequest, content, "TokenRequest");
    const bound = request.spec.boundObjectRef;
    const pods = [...this.options.edge.placement.podsOn(node)]
      .map((key) => {
        const [ns = "", podName = ""] = key.split("/");
        return this.options.edge.pods.get(ns, podName);
      })
      .filter((p): p is PodJson => p?.metadata?.namespace === namespace);
    const users = pods.filter((p) => (p.spec?.serviceAccountName ?? "default") === serviceAccount);
    if (users.length === 0)
      throw forbidden(`no pod on node ${node} runs as service account ${namespace}/${serviceAccount}`);
    if (
      bound?.kind === "Pod" &&
      !users.some((p) => p.metadata?.name === bound.name && (!bound.uid || p.metadata?.uid === bound.uid))
    )
      throw forbidden(`token bound to pod ${namespace}/${bound.name ?? ""}, which is not on node ${node}`);
    return this.options.rest.request(
      "create",
      `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
      {
        body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", ...request },
      },
    );
  }

  /**
   * A Node write, fenced in the apiserver when this replica holds a fencing epoch: the Node the
   * write is based on must not name a later owner, and the write carries its resourceVersion; on a
   * conflict the fresh Node is checked again.
   */
  async #nodeWrite<T>(node: string, write: (resourceVersion: string | undefined) => Promise<T>): Promise<T> {
    const mine = this.options.epochOf?.(node);
    if (mine === undefined) return write(undefined);
    // The cached Node first; after a conflict, a fresh read.
    let cached = this.options.edge.nodes.get("", node);
    return retryOn(async () => {
      const current = cached ?? (await this.options.rest.get<NodeJson>(`/api/v1/nodes/${node}`));
      cached = undefined;
      assertNodeEpoch(current, mine);
      return write(current.metadata?.resourceVersion);
    });
  }

  #daemonEndpoints(): { daemonEndpoints?: { kubeletEndpoint: { Port: number } } } {
    const port = this.options.kubeletPort?.();
    return port === undefined ? {} : { daemonEndpoints: { kubeletEndpoint: { Port: port } } };
  }

  /** Adds the owner's kubelet port to a node status patch (a JSON document). */
  #withKubeletPort(patch: string): string {
    const endpoints = this.#daemonEndpoints();
    if (!endpoints.daemonEndpoints) return patch;
    const parsed = JSON.parse(patch) as { status?: Record<string, unknown> };
    return JSON.stringify({ ...parsed, status: { ...parsed.status, ...endpoints } });
  }

  #requireSelf(node: string, name: string): void {
    if (name !== node) throw forbidden(`node ${node} may not act on node ${name}`);
  }

  #requireNamespace(ref: ResourceRef, namespace: string): void {
    if (ref.namespace !== namespace) throw forbidden(`leases live in ${namespace}, not ${ref.namespace}`);
  }

  /** The pod must be bound to `node` (cache first, then a fresh read for a pod not seen yet). */
  async #requireOwnPod(node: string, namespace: string, name: string): Promise<void> {
    let boundTo = this.options.edge.pods.get(namespace, name)?.spec?.nodeName;
    if (boundTo === undefined) {
      const pod = await this.options.rest.get<PodJson>(podPath(namespace, name));
      boundTo = pod.spec?.nodeName;
    }
    if (boundTo !== node) throw forbidden(`pod ${namespace}/${name} is not bound to node ${node}`);
  }

  #objectReply(request: Message, object: KubeObject, resourceVersion?: string): Message {
    return this.#reply(request, { Object: object, Err: null }, resourceVersion);
  }

  /** Errors: ObjectResp for the operations whose replies are ObjectResp, else a bare `{ErrStatus}`. */
  #errorReply(ref: ResourceRef, operation: string, request: Message, status: KubeStatus): Message {
    const objectResp =
      [ResourceType.Node, ResourceType.NodePatch, ResourceType.PodPatch, ResourceType.Lease].includes(
        ref.type as "node",
      ) && operation !== Operation.Delete;
    return this.#reply(
      request,
      objectResp ? { Object: null, Err: { ErrStatus: status } } : { ErrStatus: status },
    );
  }

  /** Replies come from the edgecontroller on group resource, as KubeEdge's do. */
  #reply(request: Message, content: unknown, resourceVersion?: string): Message {
    const reply = responseTo(request, content, resourceVersion ? { resourceVersion } : {});
    return { ...reply, route: { ...reply.route, source: Source.EdgeController, group: Group.Resource } };
  }

  #count(type: string, operation: string, result: string): void {
    this.options.metrics.upstreamRequests.inc({ type, operation, result });
  }
}

function statusOfError(err: unknown): KubeStatus {
  if (err instanceof UpstreamFailure) return err.status;
  if (err instanceof FencedError)
    return {
      kind: "Status",
      apiVersion: "v1",
      status: "Failure",
      code: 503,
      reason: "ServiceUnavailable",
      message: err.message,
    };
  if (err instanceof KubeApiError)
    return { kind: "Status", apiVersion: "v1", status: "Failure", code: err.statusCode, ...err.status };
  return {
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    code: 500,
    reason: "InternalError",
    message: (err as Error).message,
  };
}

/** Edges send the patch as a JSON string (KubeEdge); accept an object too. */
function patchBody(content: unknown): string {
  if (typeof content === "string") {
    if (typeof tryParseJson(content) !== "object") throw badRequest("patch content is not a JSON document");
    return content;
  }
  if (typeof content !== "object" || content === null)
    throw badRequest("patch content is not a JSON document");
  return JSON.stringify(content);
}

const podPath = (namespace: string, name: string): string => `/api/v1/namespaces/${namespace}/pods/${name}`;

/** The edge's annotations, minus the ones only cloudcore may write (ownership). */
function edgeAnnotations(sent: NodeJson): Record<string, string> {
  const {
    [OWNER_ANNOTATION]: _owner,
    [OWNER_EPOCH_ANNOTATION]: _epoch,
    ...rest
  } = sent.metadata?.annotations ?? {};
  return rest;
}
