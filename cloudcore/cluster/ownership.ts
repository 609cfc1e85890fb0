import { FencedError } from "./node-ownership.js";

/**
 * Which nodes this cloudcore serves. In a cluster it is negotiated in Redis (NodeOwnership); a
 * single cloudcore owns every node (LocalOwnership). Controllers only ask these questions.
 */
export interface Ownership {
  /** Owns `node` (negotiating if needed); resolves to the fencing epoch. */
  acquire(node: string): Promise<number>;
  release(node: string): Promise<void>;
  /** True if owned here now (no Redis round trip). */
  owns(node: string): boolean;
  owned(): ReadonlyMap<string, number>;
  /** Throws FencedError unless still the current owner; call right before writing for `node`. */
  assertCurrent(node: string): Promise<number>;
}

/** A single cloudcore: every node is its own, at epoch 1. */
export class LocalOwnership implements Ownership {
  readonly #owned = new Map<string, number>();

  acquire(node: string): Promise<number> {
    this.#owned.set(node, 1);
    return Promise.resolve(1);
  }

  release(node: string): Promise<void> {
    this.#owned.delete(node);
    return Promise.resolve();
  }

  owns(): boolean {
    return true;
  }

  owned(): ReadonlyMap<string, number> {
    return this.#owned;
  }

  assertCurrent(node: string): Promise<number> {
    if (!node) return Promise.reject(new FencedError("no node"));
    return Promise.resolve(1);
  }
}
