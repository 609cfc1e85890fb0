import { Group, Source } from "../../protocol/constants.js";
import { newMessage, type Message } from "../../protocol/message.js";
import type { AckRecord } from "../hub/ack-store.js";
import type { DeliveryMeta } from "../hub/delivery-queue.js";
import type { KubeObject } from "../kube/objects.js";
import { contentDigest } from "./content-digest.js";

/** A downstream message and what its ack records. */
export interface Outgoing {
  readonly message: Message;
  readonly meta: DeliveryMeta;
}

/** Where downstream messages go: cloudhub's delivery and its sessions. */
export interface DownstreamSink {
  /** Queues a message; ones that need an ack are kept until acked, others go best effort. */
  deliver(node: string, message: Message, meta?: DeliveryMeta): Promise<void>;
  acked(node: string): Promise<ReadonlyMap<string, AckRecord>>;
  /** True if the node has a tunnel to this replica. */
  isConnected(node: string): boolean;
  /** The Node is gone: forget what it acked. */
  forgetNode(node: string): Promise<void>;
}

/** What another controller adds to a node's resync: the objects the node should hold. */
export interface DesiredSource {
  /** By wire resource. */
  desired(node: string): Map<string, Outgoing>;
  /** Called synchronously once a resync queued its messages, with what it inserted and deleted. */
  afterResync?(
    node: string,
    change: { readonly inserted: readonly string[]; readonly deleted: readonly string[] },
  ): void;
}

export function downstream(
  operation: string,
  resource: string,
  content: unknown,
  resourceVersion?: string,
  source: string = Source.EdgeController,
  group: string = Group.Resource,
): Message {
  return newMessage({
    source,
    group,
    operation,
    resource,
    content,
    ...(resourceVersion !== undefined && { resourceVersion }),
  });
}

/** An object message whose ack records the object's UID and content digest. */
export function outgoing(
  operation: string,
  resource: string,
  content: KubeObject,
  source: string = Source.EdgeController,
): Outgoing {
  const uid = content.metadata?.uid;
  return {
    message: downstream(operation, resource, content, content.metadata?.resourceVersion, source),
    meta: { digest: contentDigest(content), ...(uid !== undefined && { uid }) },
  };
}

/** Objects from a list have no apiVersion/kind; edges (KubeEdge's included) expect them. */
export function withKind<T extends KubeObject>(object: T, kind: string, apiVersion = "v1"): T {
  return { ...object, apiVersion: object.apiVersion ?? apiVersion, kind: object.kind ?? kind };
}
