import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { Redlock, type Lock } from "./redlock.js";
import { CloudcoreError } from "../errors.js";
import type { ClusterKeys } from "./keys.js";
import type { Ownership } from "./ownership.js";
import { getMany, runBatch, type BatchResult, type RedisClient } from "./redis-client.js";
import { CLAIM, CLEAR_STALE, RELEASE, RENEW } from "./scripts.js";

/** The node could not be owned now (another live replica holds it and did not hand it over). */
export class OwnershipUnavailableError extends CloudcoreError {
  override readonly name = "OwnershipUnavailableError";
  override readonly code = "EF_ERR_OWNERSHIP_UNAVAILABLE";
}

/** A write on behalf of a node by a replica that no longer owns it. */
export class FencedError extends CloudcoreError {
  override readonly name = "FencedError";
  override readonly code = "EF_ERR_FENCED";
}

interface Owned {
  readonly token: string;
  readonly epoch: number;
}

export interface NodeOwnershipOptions {
  /** One Redis (or a Sentinel group's master) or a Redis Cluster. */
  readonly redis: RedisClient;
  /** A second connection, used only to subscribe to handover requests. */
  readonly subscriber: RedisClient;
  readonly keys: ClusterKeys;
  readonly replicaId: string;
  /** Lock TTL (default 15 s); renewed every `renewIntervalMs` (default ttl/3) while owned. */
  readonly ttlMs?: number;
  readonly renewIntervalMs?: number;
  /** How long to wait for a live owner to hand a node over (default 5 s). */
  readonly handoverTimeoutMs?: number;
  /** Is that replica alive (its liveness key exists)? */
  readonly isReplicaAlive: (id: string) => Promise<boolean>;
  readonly log: Logger;
  /** Told of every change of what this replica owns (metrics). */
  readonly onChange?: (change: OwnershipChange) => void;
}

/**
 * How a node came or went: claimed (nobody held it), handed_over (its live owner gave it up on
 * request), taken_over (from a dead replica), adopted (an ownerless node, by the adoption round);
 * released (given up here: handover, shedding, stop), lost (a renewal found another owner).
 */
export type OwnershipChange = "claimed" | "handed_over" | "taken_over" | "adopted" | "released" | "lost";

export interface OwnershipEvents {
  /** Another replica asks for `node` (its edge reconnected there): close the tunnel, then release. */
  onHandoverRequest?(node: string, from: string): void;
  /** A renewal found the node taken by someone else: stop serving it. */
  onLost?(node: string): void;
}

/**
 * Who serves which edge node, negotiated in Redis: a redlock lock per node, renewed while owned,
 * plus a fencing epoch incremented on every acquisition. The epoch travels with every write made
 * for the node (`assertCurrent`), so a replica that lost the node — paused, partitioned — cannot
 * overwrite the new owner's writes. A node held by a live replica is asked for (pub/sub) and handed
 * over; one held by a dead replica (liveness key expired) is taken without waiting for the lock TTL.
 */
export class NodeOwnership implements Ownership {
  readonly #owned = new Map<string, Owned>();
  readonly #acquiring = new Map<string, Promise<number>>();
  readonly #redlock: Redlock;
  readonly #ttl: number;
  #events: OwnershipEvents = {};
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> = Promise.resolve();
  /** Nodes seen without an owner record, and since when (adoption waits for a second look). */
  readonly #orphanSince = new Map<string, number>();
  #connectedOnce = false;
  /**
   * Redis came back (after a restart it may have lost every key): put our locks back at once,
   * before another replica's adoption round could mistake our nodes for orphans.
   */
  readonly #onRedisReady = (): void => {
    if (!this.#connectedOnce) {
      this.#connectedOnce = true;
      return;
    }
    this.options.log.info("Redis connection re-established; renewing node locks now");
    this.#renew();
  };

  constructor(private readonly options: NodeOwnershipOptions) {
    this.#ttl = options.ttlMs ?? 15_000;
    // One attempt: contention is resolved by the handover protocol, not by redlock's retry loop.
    this.#redlock = new Redlock([options.redis], { retryCount: 0, driftFactor: 0.01 });
    this.#redlock.on("error", () => undefined);
  }

  setEvents(events: OwnershipEvents): void {
    this.#events = events;
  }

  async start(): Promise<void> {
    const channel = this.options.keys.handover(this.options.replicaId);
    this.options.subscriber.on("message", (ch: string, text: string) => {
      if (ch !== channel) return;
      try {
        const { node, from } = JSON.parse(text) as { node: string; from: string };
        this.options.log.info({ node, from }, "handover requested");
        this.#events.onHandoverRequest?.(node, from);
      } catch {
        this.options.log.warn({ text }, "malformed handover request");
      }
    });
    await this.options.subscriber.subscribe(channel);
    this.#connectedOnce = this.options.redis.status === "ready";
    this.options.redis.on("ready", this.#onRedisReady);
    this.#timer = setInterval(() => this.#renew(), this.#renewIntervalMs);
  }

  get #renewIntervalMs(): number {
    return this.options.renewIntervalMs ?? Math.floor(this.#ttl / 3);
  }

  #renew(): void {
    this.#renewing = this.#renewing.then(() => this.renewAll());
  }

  /** Nodes owned here, with their epochs. */
  owned(): ReadonlyMap<string, number> {
    return new Map([...this.#owned].map(([node, o]) => [node, o.epoch]));
  }

  /** How many nodes are owned here (cheap: for the owned-nodes gauge at scrape time). */
  get ownedCount(): number {
    return this.#owned.size;
  }

  owns(node: string): boolean {
    return this.#owned.has(node);
  }

  epochOf(node: string): number | undefined {
    return this.#owned.get(node)?.epoch;
  }

  /** Owns `node` (or already does); resolves to the fencing epoch. */
  acquire(node: string): Promise<number> {
    const owned = this.#owned.get(node);
    if (owned) return Promise.resolve(owned.epoch);
    let pending = this.#acquiring.get(node);
    if (!pending) {
      pending = this.#acquire(node).finally(() => this.#acquiring.delete(node));
      this.#acquiring.set(node, pending);
    }
    return pending;
  }

  /** Gives `node` up (tunnel handed over, shed, or shutting down). */
  async release(node: string): Promise<void> {
    const owned = this.#owned.get(node);
    if (!owned) return;
    this.#owned.delete(node);
    this.options.onChange?.("released");
    const { keys, redis } = this.options;
    await redis.eval(RELEASE, 3, keys.lock(node), keys.epoch(node), keys.owner(node), owned.token);
  }

  /**
   * Fencing: throws FencedError unless this replica still owns `node` at the epoch it acquired.
   * Checked in Redis right before a write; see docs/ha.md for the window this leaves and how Node
   * writes close it in the apiserver itself. The check is a renewal: after Redis lost its keys
   * (restart without persistence) the first write puts them back instead of mistaking the missing
   * epoch for a lost node; a node another replica claimed meanwhile is still refused.
   */
  async assertCurrent(node: string): Promise<number> {
    const owned = this.#owned.get(node);
    if (!owned) throw new FencedError(`node ${node} is not owned by replica ${this.options.replicaId}`);
    const { keys, redis } = this.options;
    const current = await redis.eval(
      RENEW,
      3,
      keys.lock(node),
      keys.epoch(node),
      keys.owner(node),
      owned.token,
      this.options.replicaId,
      String(owned.epoch),
      String(this.#ttl),
    );
    if (current === 0) {
      this.#lose(node);
      throw new FencedError(`node ${node}: epoch ${owned.epoch} is no longer current`);
    }
    return owned.epoch;
  }

  /**
   * Renews every owned node's lock in one batch (one pipeline on one Redis; one per shard on a
   * Cluster, see runBatch); nodes found taken are dropped (onLost).
   */
  async renewAll(): Promise<void> {
    if (this.#owned.size === 0) return;
    const { keys, redis } = this.options;
    const entries = [...this.#owned];
    const ttl = String(this.#ttl);
    let results: BatchResult[];
    try {
      results = await runBatch(
        redis,
        entries.map(([node, o]) => [
          "eval",
          RENEW,
          3,
          keys.lock(node),
          keys.epoch(node),
          keys.owner(node),
          o.token,
          this.options.replicaId,
          String(o.epoch),
          ttl,
        ]),
      );
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, "renewing node locks failed; retrying");
      return;
    }
    let restored = 0;
    let failed = 0;
    let firstError: Error | undefined;
    entries.forEach(([node], i) => {
      const [err, result] = results[i] ?? [null, 0];
      if (err) {
        // Transient: the next pass retries before the TTL runs out.
        failed++;
        firstError ??= err;
        return;
      }
      if (result === 0) this.#lose(node);
      else if (result === 2) restored++;
    });
    if (failed > 0)
      this.options.log.warn(
        { failed, of: entries.length, err: firstError?.message },
        "renewing node locks failed; retrying",
      );
    if (restored > 0)
      this.options.log.warn({ restored }, "node locks were missing in Redis and were re-established");
  }

  /**
   * Takes nodes nobody owns (their owner died or shut down while they were offline), at most
   * `limit` per call, so that someone keeps vouching for them. One attempt each, no handover.
   * A node is adopted only when it has been seen without an owner record for longer than one
   * renewal interval: after Redis lost its data, live owners put their records back on their next
   * renewal, and must not find their nodes adopted by a faster replica first.
   */
  async adoptOrphans(nodes: readonly string[], limit = 100): Promise<string[]> {
    const candidates = nodes.filter((n) => !this.#owned.has(n) && !this.#acquiring.has(n));
    const adopted: string[] = [];
    const now = Date.now();
    const seen = new Map<string, number>();
    for (let i = 0; i < candidates.length; i += 500) {
      const chunk = candidates.slice(i, i + 500);
      const records = await getMany(
        this.options.redis,
        chunk.map((n) => this.options.keys.owner(n)),
      );
      for (const [j, record] of records.entries()) {
        if (record !== null) continue;
        const node = chunk[j] ?? "";
        const since = this.#orphanSince.get(node) ?? now;
        seen.set(node, since);
        if (adopted.length >= limit || now - since <= this.#renewIntervalMs) continue;
        if ((await this.#tryLock(node)) !== undefined) {
          this.options.onChange?.("adopted");
          adopted.push(node);
          seen.delete(node);
        }
      }
    }
    this.#orphanSince.clear();
    for (const [node, since] of seen) this.#orphanSince.set(node, since);
    if (adopted.length > 0) this.options.log.info({ count: adopted.length }, "adopted ownerless nodes");
    return adopted;
  }

  /** Stops renewing and releases every node (graceful shutdown); safe to call twice. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.options.redis.off("ready", this.#onRedisReady);
    await this.#renewing;
    await Promise.allSettled([...this.#owned.keys()].map((node) => this.release(node)));
    await this.options.subscriber.unsubscribe().catch(() => undefined);
  }

  /** Stops renewing without releasing (tests: a replica that froze or was killed). */
  abandon(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.options.redis.off("ready", this.#onRedisReady);
    this.#owned.clear();
  }

  async #acquire(node: string): Promise<number> {
    const deadline = Date.now() + (this.options.handoverTimeoutMs ?? 5000);
    let asked = false;
    let tookOver = false;
    for (let attempt = 0; ; attempt++) {
      const epoch = await this.#tryLock(node);
      if (epoch !== undefined) {
        this.options.onChange?.(tookOver ? "taken_over" : asked ? "handed_over" : "claimed");
        return epoch;
      }
      const holder = await this.#holder(node);
      if (
        holder &&
        holder.replica !== this.options.replicaId &&
        (await this.options.isReplicaAlive(holder.replica))
      ) {
        if (!asked) {
          asked = true;
          await this.options.redis.publish(
            this.options.keys.handover(holder.replica),
            JSON.stringify({ node, from: this.options.replicaId }),
          );
        }
      } else if (holder || attempt > 5) {
        // Dead holder (or a record from this replica's previous life, or a lock without a record):
        // clear it if it is still the one we saw, and take the node now.
        const token = holder?.token ?? (await this.options.redis.get(this.options.keys.lock(node)));
        if (token) {
          const { keys, redis } = this.options;
          await redis.eval(CLEAR_STALE, 3, keys.lock(node), keys.epoch(node), keys.owner(node), token);
          tookOver = true;
          this.options.log.info(
            { node, from: holder?.replica ?? "unknown" },
            "taking over a node from a dead replica",
          );
        }
        continue;
      }
      if (Date.now() >= deadline)
        throw new OwnershipUnavailableError(
          `node ${node} is held by replica ${holder?.replica ?? "?"}, which did not hand it over`,
        );
      await sleep(50 + Math.random() * 50);
    }
  }

  async #tryLock(node: string): Promise<number | undefined> {
    let lock: Lock;
    try {
      lock = await this.#redlock.acquire([this.options.keys.lock(node)], this.#ttl);
    } catch {
      return undefined;
    }
    const { keys, redis } = this.options;
    const epoch = Number(
      await redis.eval(
        CLAIM,
        3,
        keys.lock(node),
        keys.epoch(node),
        keys.owner(node),
        lock.value,
        this.options.replicaId,
        String(this.#ttl),
      ),
    );
    if (epoch <= 0) return undefined;
    this.#owned.set(node, { token: lock.value, epoch });
    this.options.log.debug({ node, epoch }, "node owned");
    return epoch;
  }

  async #holder(node: string): Promise<{ replica: string; epoch: number; token: string } | undefined> {
    const record = await this.options.redis.get(this.options.keys.owner(node));
    if (!record) return undefined;
    const [replica = "", epoch = "0", token = ""] = record.split(" ");
    return { replica, epoch: Number(epoch), token };
  }

  #lose(node: string): void {
    if (!this.#owned.delete(node)) return;
    this.options.onChange?.("lost");
    this.options.log.warn({ node }, "node ownership lost to another replica");
    this.#events.onLost?.(node);
  }
}
