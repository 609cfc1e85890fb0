import { setTimeout as sleep } from "node:timers/promises";
import { Watch, type KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { backoffDelay, type BackoffOptions } from "../../protocol/backoff.js";

export type InformerEvent = "ADDED" | "MODIFIED" | "DELETED";

/** What the informer needs of an object: its identity and version (typed or plain JSON). */
export interface Watchable {
  metadata?: {
    name?: string | undefined;
    namespace?: string | undefined;
    resourceVersion?: string | undefined;
  };
}

export interface InformerOptions<T extends Watchable> {
  readonly kubeConfig: KubeConfig;
  /** Collection path, e.g. `/api/v1/configmaps` or `/api/v1/namespaces/x/pods`. */
  readonly path: string;
  /** A full list of the collection (same selectors as `query`). */
  readonly list: () => Promise<{ readonly items: readonly T[]; readonly resourceVersion: string }>;
  /** labelSelector / fieldSelector applied to the watch. */
  readonly query?: Readonly<Record<string, string>>;
  readonly onEvent: (type: InformerEvent, object: T) => void;
  /**
   * Shrinks each object before it is cached and handed to onEvent (keep identity and
   * resourceVersion): a watcher of 500,000 pods that needs only their phase holds only that.
   */
  readonly slim?: (object: T) => T;
  readonly backoff?: BackoffOptions;
  readonly log: Logger;
  readonly random?: () => number;
}

export type InformerStatus =
  | { readonly type: "listing" }
  | { readonly type: "watching"; readonly resourceVersion: string }
  | { readonly type: "waiting"; readonly delayMs: number; readonly lastError: string }
  | { readonly type: "stopped" };

/** Raised inside the loop when the server says the resourceVersion is too old. */
class Gone extends Error {}

function statusOf(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "statusCode" in err && typeof err.statusCode === "number") {
    return err.statusCode;
  }
  return undefined;
}

const keyOf = (o: Watchable): string => `${o.metadata?.namespace ?? ""}/${o.metadata?.name ?? ""}`;

/**
 * List-then-watch with a local cache, that never silently goes stale: it resumes from the last
 * resourceVersion seen (bookmarks included), re-lists on 410 Gone (emitting the differences as
 * events), and re-lists after any other failure too, after exponential backoff with full jitter. The
 * client library's own ListWatch stops on errors other than 410.
 */
export class Informer<T extends Watchable> {
  readonly #cache = new Map<string, T>();
  readonly #stop = new AbortController();
  #status: InformerStatus = { type: "listing" };
  #loop: Promise<void> | undefined;
  #synced!: () => void;
  /** Resolves after the first full list has been applied. */
  readonly synced: Promise<void> = new Promise((resolve) => (this.#synced = resolve));

  constructor(private readonly options: InformerOptions<T>) {}

  get status(): InformerStatus {
    return this.#status;
  }

  get(namespace: string, name: string): T | undefined {
    return this.#cache.get(`${namespace}/${name}`);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops the watch; safe to call twice. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    this.#status = { type: "stopped" };
  }

  async #run(): Promise<void> {
    const backoff = this.options.backoff ?? { initialMs: 200, maxMs: 30_000 };
    let resourceVersion: string | undefined;
    let failures = 0;
    while (!this.#stop.signal.aborted) {
      try {
        if (resourceVersion === undefined) {
          this.#status = { type: "listing" };
          resourceVersion = await this.#relist();
          this.#synced();
        }
        this.#status = { type: "watching", resourceVersion };
        resourceVersion = await this.#watch(resourceVersion, () => (failures = 0));
      } catch (err) {
        if (this.#stop.signal.aborted) break;
        if (err instanceof Gone) {
          this.options.log.info(
            { path: this.options.path },
            "watch resourceVersion too old (410): re-listing",
          );
          resourceVersion = undefined;
          continue;
        }
        const delayMs = backoffDelay(failures++, backoff, this.options.random);
        const lastError = (err as Error).message;
        this.options.log.warn(
          { path: this.options.path, delayMs, err: lastError },
          "list/watch failed; re-listing after backoff",
        );
        // Start over from a fresh list: an error can be tied to the resourceVersion itself (seen:
        // watching from exactly an etcd compaction point answers 500 "PrevKv=nil" on every retry).
        resourceVersion = undefined;
        this.#status = { type: "waiting", delayMs, lastError };
        await sleep(delayMs, undefined, { signal: this.#stop.signal }).catch(() => undefined);
      }
    }
  }

  /** Replaces the cache with a fresh list, emitting what changed; returns the list's resourceVersion. */
  async #relist(): Promise<string> {
    const { items: listed, resourceVersion } = await this.options.list();
    const { slim } = this.options;
    const items = slim ? listed.map(slim) : listed;
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const old = this.#cache.get(key);
      this.#cache.set(key, item);
      if (!old) this.options.onEvent("ADDED", item);
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion)
        this.options.onEvent("MODIFIED", item);
    }
    for (const [key, old] of this.#cache) {
      if (!seen.has(key)) {
        this.#cache.delete(key);
        this.options.onEvent("DELETED", old);
      }
    }
    return resourceVersion;
  }

  /** Watches from `from` until the stream ends; returns the last resourceVersion seen. */
  #watch(from: string, onProgress: () => void): Promise<string> {
    let last = from;
    return new Promise<string>((resolve, reject) => {
      let controller: AbortController | undefined;
      const onAbort = (): void => controller?.abort();
      this.#stop.signal.addEventListener("abort", onAbort, { once: true });
      const finish = (err?: unknown): void => {
        this.#stop.signal.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve(last);
      };
      new Watch(this.options.kubeConfig)
        .watch(
          this.options.path,
          { ...this.options.query, resourceVersion: from, allowWatchBookmarks: true },
          (type: string, received: T & { code?: number; message?: string }) => {
            if (type === "ERROR") {
              const object = received;
              // Settle first: aborting makes the library call done() with an AbortError at once.
              finish(
                object.code === 410
                  ? new Gone(object.message ?? "gone")
                  : new Error(`watch error: ${object.message ?? "unknown"}`),
              );
              controller?.abort();
              return;
            }
            const rv = received.metadata?.resourceVersion;
            if (rv) last = rv;
            onProgress();
            if (type === "BOOKMARK") return;
            const object = this.options.slim ? this.options.slim(received) : received;
            const key = keyOf(object);
            if (type === "DELETED") this.#cache.delete(key);
            else this.#cache.set(key, object);
            this.options.onEvent(type as InformerEvent, object);
          },
          // The apiserver answers 410 either as an ERROR event in the stream or, before streaming,
          // as the HTTP status of the watch request itself (client-node sets err.statusCode).
          (err: unknown) =>
            finish(statusOf(err) === 410 ? new Gone("watch answered HTTP 410") : (err ?? undefined)),
        )
        .then((c) => {
          controller = c;
          if (this.#stop.signal.aborted) c.abort();
        }, finish);
    });
  }
}
