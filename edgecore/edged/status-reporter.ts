import { isDeepStrictEqual } from "node:util";
import type { Logger } from "pino";
import { Group, Operation, Source } from "../../protocol/constants.js";
import { newMessage, type Message } from "../../protocol/message.js";
import { backoffDelay } from "../../protocol/backoff.js";
import type { EdgecoreMetrics } from "../metrics.js";
import { replyFailure } from "../upstream/replies.js";

/** What the reporter needs of edgehub. */
export interface StatusChannel {
  request(message: Message, timeoutMs?: number): Promise<Message>;
  onStatus(handler: (status: { readonly type: string }) => void): () => void;
  readonly status: { readonly type: string };
}

interface Entry {
  namespace: string;
  name: string;
  uid: string;
  /** The newest status edged computed. */
  latest: Record<string, unknown>;
  /** What the cloud last accepted, or undefined. */
  accepted: Record<string, unknown> | undefined;
  inFlight: boolean;
  failures: number;
  retryAt: number;
}

/**
 * The kubelet's status manager, over the tunnel: keeps the newest status of each pod and sends it
 * as a `podpatch` (strategic merge, with the pod's UID as precondition) when it differs from what
 * the cloud last accepted. One write in flight per pod; a failed write is retried with back-off;
 * whatever changed while offline is sent once on reconnect, newest only, so status converges.
 */
export class PodStatusReporter {
  readonly #pods = new Map<string, Entry>();
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  readonly #log: Logger;

  constructor(
    private readonly hub: StatusChannel,
    private readonly metrics: EdgecoreMetrics,
    log: Logger,
    tickMs = 500,
  ) {
    this.#log = log.child({ component: "statusmanager" });
    this.#timer = setInterval(() => this.#flush(), tickMs);
    this.#unsubscribe = hub.onStatus((status) => {
      if (status.type !== "connected") return;
      // The cloud may have missed writes or been restored: send every pod's newest status again.
      for (const entry of this.#pods.values()) {
        entry.accepted = undefined;
        entry.failures = 0;
        entry.retryAt = 0;
      }
      this.#flush();
    });
  }

  /** Records a pod's newest status; it is sent if it differs from what the cloud accepted. */
  report(namespace: string, name: string, uid: string, status: Record<string, unknown>): void {
    const key = `${namespace}/${name}`;
    let entry = this.#pods.get(key);
    if (!entry || entry.uid !== uid) {
      entry = {
        namespace,
        name,
        uid,
        latest: status,
        accepted: undefined,
        inFlight: false,
        failures: 0,
        retryAt: 0,
      };
      this.#pods.set(key, entry);
    }
    entry.latest = status;
    this.#send(entry);
  }

  /** The pod is gone: stop reporting it. */
  forget(namespace: string, name: string): void {
    this.#pods.delete(`${namespace}/${name}`);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#unsubscribe();
  }

  #flush(): void {
    for (const entry of this.#pods.values()) this.#send(entry);
  }

  #send(entry: Entry): void {
    if (entry.inFlight || this.hub.status.type !== "connected" || Date.now() < entry.retryAt) return;
    if (isDeepStrictEqual(entry.latest, entry.accepted)) return;
    const status = entry.latest;
    entry.inFlight = true;
    const message = newMessage({
      source: Source.Edged,
      group: Group.Meta,
      operation: Operation.Patch,
      resource: `${entry.namespace}/podpatch/${entry.name}`,
      content: JSON.stringify({ metadata: { uid: entry.uid }, status }),
    });
    this.hub
      .request(message)
      .then((reply) => {
        const failure = replyFailure(reply);
        if (failure) throw new Error(`${failure.code ?? ""} ${failure.message}`.trim());
        entry.accepted = status;
        entry.failures = 0;
        this.metrics.podStatusReports.inc({ result: "ok" });
      })
      .catch((err: unknown) => {
        entry.failures++;
        entry.retryAt = Date.now() + backoffDelay(entry.failures, { initialMs: 500, maxMs: 30_000 });
        this.metrics.podStatusReports.inc({ result: "error" });
        this.#log.warn(
          { pod: `${entry.namespace}/${entry.name}`, err: (err as Error).message, failures: entry.failures },
          "pod status write failed; will retry",
        );
      })
      .finally(() => {
        entry.inFlight = false;
        // A newer status arrived while this one was in flight: send it now.
        if (this.#pods.get(`${entry.namespace}/${entry.name}`) === entry) this.#send(entry);
      });
  }
}
