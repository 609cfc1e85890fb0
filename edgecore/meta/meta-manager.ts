import type { Logger } from "pino";
import { z } from "zod";
import { Group, OK_CONTENT, Operation } from "../../protocol/constants.js";
import { errorTo, responseTo, type Message } from "../../protocol/message.js";
import { ResourceError } from "../../protocol/errors.js";
import { parseResource } from "../../protocol/resource.js";
import { EdgecoreError } from "../errors.js";
import type { EdgecoreMetrics } from "../metrics.js";
import type { MetaStore, ObjectJson, StoreEvent } from "./meta-store.js";

/** Where MetaManager sends its acks and error replies: edgehub. */
export interface AckChannel {
  /** Sends now; false when the tunnel is down (the cloud then resends, as nothing was acked). */
  send(message: Message): boolean;
}

const ObjectContent = z
  .object({
    metadata: z
      .object({
        name: z.string().max(253).optional(),
        namespace: z.string().max(253).optional(),
        uid: z.string().max(128).optional(),
        resourceVersion: z.string().max(64).optional(),
      })
      .passthrough(),
  })
  .passthrough();

const OBJECT_OPERATIONS: ReadonlySet<string> = new Set([
  Operation.Insert,
  Operation.Update,
  Operation.Delete,
]);

/** A cloud message MetaManager refused; nothing of it was stored. */
export class InvalidCloudObjectError extends EdgecoreError {
  override readonly name = "InvalidCloudObjectError";
  override readonly code = "EF_ERR_INVALID_CLOUD_OBJECT";
}

/**
 * MetaManager: stores every object the cloud sends (pods, configmaps, secrets, the Node, devices…)
 * in SQLite, then acks it, then tells the node's modules. The ack follows the commit, so an acked
 * object survives a crash; an object that fails validation is answered with an error naming the
 * field and nothing of it is stored.
 */
export class MetaManager {
  readonly #listeners: ((event: StoreEvent) => void)[] = [];
  readonly #log: Logger;

  constructor(
    readonly store: MetaStore,
    private readonly acks: AckChannel,
    private readonly metrics: EdgecoreMetrics,
    log: Logger,
  ) {
    this.#log = log.child({ component: "metamanager" });
  }

  /** Subscribes to stored changes (after commit); returns the unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void): () => void {
    this.#listeners.push(listener);
    return () => {
      const at = this.#listeners.indexOf(listener);
      if (at >= 0) this.#listeners.splice(at, 1);
    };
  }

  /** True if the message is an object operation MetaManager handles (group resource). */
  static handles(message: Message): boolean {
    const { group, operation } = message.route;
    return group === Group.Resource && operation !== undefined && OBJECT_OPERATIONS.has(operation);
  }

  /** Stores, acks and publishes one cloud object message. */
  handle(message: Message): void {
    const started = performance.now();
    const operation = message.route.operation as "insert" | "update" | "delete";
    let type = "unknown";
    try {
      const ref = parseResource(message.route.resource ?? "");
      type = ref.type;
      if (ref.name === undefined)
        throw new InvalidCloudObjectError(`resource ${ref.namespace}/${ref.type} has no name`);
      const parsed = ObjectContent.safeParse(message.content);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new InvalidCloudObjectError(
          `content.${issue?.path.join(".") || "(object)"}: ${issue?.message ?? "invalid"}`,
        );
      }
      const object = parsed.data as ObjectJson;
      const name = object.metadata?.name;
      if (name !== undefined && name !== ref.name)
        throw new InvalidCloudObjectError(
          `content.metadata.name "${name}" does not match resource name "${ref.name}"`,
        );
      const event = this.store.apply({
        operation,
        namespace: ref.namespace,
        type: ref.type,
        name: ref.name,
        object,
        ...(message.header.resourceversion !== undefined && {
          cloudResourceVersion: message.header.resourceversion,
        }),
      });
      // Acked once committed: stale copies too (the node holds something at least as new).
      this.acks.send(responseTo(message, OK_CONTENT));
      this.metrics.metaMessages.inc({ operation, type, result: event ? "stored" : "stale" });
      this.metrics.metaApplySeconds.observe((performance.now() - started) / 1000);
      if (event) this.#publish(event);
    } catch (err) {
      if (!(err instanceof InvalidCloudObjectError) && !(err instanceof ResourceError)) throw err;
      this.metrics.metaMessages.inc({ operation, type, result: "invalid" });
      this.#log.warn(
        { resource: message.route.resource, operation, err: err.message },
        "cloud object refused; nothing stored",
      );
      this.acks.send(errorTo(message, `edge refused ${operation} ${message.route.resource}: ${err.message}`));
    }
  }

  /**
   * Removes an object the node knows is gone from the cloud (a pod whose deletion it confirmed),
   * unless the copy held is another incarnation (another UID).
   */
  removeLocal(resource: string, uid: string): void {
    const ref = parseResource(resource);
    if (ref.name === undefined) return;
    const event = this.store.apply({
      operation: "delete",
      namespace: ref.namespace,
      type: ref.type,
      name: ref.name,
      object: { metadata: { name: ref.name, uid } },
    });
    if (event) this.#publish(event);
  }

  /** Records the node's own view of an object's status (edged's pod status) and publishes it. */
  setLocalStatus(resource: string, status: unknown): void {
    const event = this.store.setLocalStatus(resource, status);
    if (event) this.#publish(event);
  }

  #publish(event: StoreEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch (err) {
        this.#log.error(
          { err: (err as Error).message, resource: event.object.resource },
          "store listener failed",
        );
      }
    }
  }
}
