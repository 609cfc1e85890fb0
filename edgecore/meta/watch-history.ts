import type { StoreEvent } from "./meta-store.js";

/**
 * The store's recent changes, in revision order, so a watch can resume from a resourceVersion the
 * client saw. Like etcd's compaction: a resourceVersion older than what is kept gets "410 Gone" and
 * the client lists again. In memory only: after a restart every earlier resourceVersion is too old.
 */
export class WatchHistory {
  readonly #events: StoreEvent[] = [];
  /** Revision up to which history is complete (the store's revision when it began). */
  #floor: number;

  constructor(
    startRevision: number,
    private readonly capacity = 10_000,
  ) {
    this.#floor = startRevision;
  }

  record(event: StoreEvent): void {
    this.#events.push(event);
    if (this.#events.length > this.capacity) {
      const dropped = this.#events.splice(0, this.#events.length - this.capacity);
      this.#floor = dropped[dropped.length - 1]?.object.revision ?? this.#floor;
    }
  }

  /** Events after `revision`, or undefined when history no longer reaches back that far. */
  since(revision: number): StoreEvent[] | undefined {
    if (revision < this.#floor) return undefined;
    let lo = 0;
    let hi = this.#events.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#events[mid]?.object.revision ?? 0) <= revision) lo = mid + 1;
      else hi = mid;
    }
    return this.#events.slice(lo);
  }
}
