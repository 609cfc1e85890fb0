import { tryParseJson } from "../../protocol/json.js";
import type { Logger } from "pino";
import { z } from "zod";
import type { ClusterKeys } from "./keys.js";
import { getMany, runAll, type RedisClient } from "./redis-client.js";

/** What a replica publishes about itself. */
export interface ReplicaInfo {
  readonly id: string;
  /** Address other components reach it at (the stream listener, the DNAT target). */
  readonly address: string;
  /** Edge nodes with a tunnel to it. */
  readonly connected: number;
  /** Messages per second over its tunnels (in + out), averaged over the last interval. */
  readonly messagesPerSecond: number;
  readonly startedAt: number;
  /** The replica's tunnel port (what nodes it owns advertise as their kubelet port). */
  readonly tunnelPort?: number | undefined;
  /** Where its stream listener listens (the DNAT target port). */
  readonly streamPort?: number | undefined;
}

const ReplicaInfoSchema = z.object({
  id: z.string(),
  address: z.string(),
  connected: z.number(),
  messagesPerSecond: z.number(),
  startedAt: z.number(),
  tunnelPort: z.number().int().optional(),
  streamPort: z.number().int().optional(),
});

export interface ReplicaRegistryOptions {
  readonly redis: RedisClient;
  readonly keys: ClusterKeys;
  readonly self: () => ReplicaInfo;
  /** Liveness key TTL: a replica silent this long is dead (default 6 s). */
  readonly ttlMs?: number;
  /** How often the key is refreshed (default ttl/3). */
  readonly intervalMs?: number;
  readonly log: Logger;
}

/** A registry that only reads the replicas' records (the iptables manager, tests). */
export function replicaObserver(redis: RedisClient, keys: ClusterKeys, log: Logger): ReplicaRegistry {
  return new ReplicaRegistry({
    redis,
    keys,
    self: () => ({ id: "observer", address: "", connected: 0, messagesPerSecond: 0, startedAt: 0 }),
    log,
  });
}

/**
 * Replica liveness and load in Redis: each replica refreshes a short-lived key with its address and
 * load; a replica whose key expired is dead, which is how a survivor knows it may take a node over
 * without waiting for the node lock's longer TTL.
 */
export class ReplicaRegistry {
  #timer: NodeJS.Timeout | undefined;
  readonly #ttl: number;

  constructor(private readonly options: ReplicaRegistryOptions) {
    this.#ttl = options.ttlMs ?? 6000;
  }

  async start(): Promise<void> {
    await this.publish();
    this.#timer = setInterval(
      () => void this.publish().catch((err: unknown) => this.#failed(err)),
      this.options.intervalMs ?? Math.floor(this.#ttl / 3),
    );
  }

  /**
   * The liveness key, then the set membership, in one batch. Not a MULTI: the two keys are in
   * different hash slots (a MULTI across slots is refused by Redis Cluster), and the order is
   * enough: a lister that sees the member finds its key (or prunes a replica that is gone).
   */
  async publish(): Promise<void> {
    const info = this.options.self();
    const { redis, keys } = this.options;
    await runAll(redis, [
      ["set", keys.replica(info.id), JSON.stringify(info), "PX", this.#ttl],
      ["sadd", keys.replicas(), info.id],
    ]);
  }

  /** This replica's id. */
  get id(): string {
    return this.options.self().id;
  }

  async isAlive(id: string): Promise<boolean> {
    return (await this.options.redis.exists(this.options.keys.replica(id))) === 1;
  }

  /** Live replicas (dead ones are dropped from the set as they are found). */
  async list(): Promise<ReplicaInfo[]> {
    const { redis, keys } = this.options;
    const ids = await redis.smembers(keys.replicas());
    if (ids.length === 0) return [];
    const values = await getMany(
      redis,
      ids.map((id) => keys.replica(id)),
    );
    const out: ReplicaInfo[] = [];
    const dead: string[] = [];
    values.forEach((value, i) => {
      const parsed = value === null ? undefined : ReplicaInfoSchema.safeParse(tryParseJson(value));
      if (parsed?.success) out.push(parsed.data);
      else dead.push(ids[i] ?? "");
    });
    if (dead.length > 0) await redis.srem(keys.replicas(), ...dead);
    return out;
  }

  /** Stops refreshing but leaves the key to expire (tests: a replica that was killed). */
  abandon(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Stops refreshing and removes the key: others see this replica gone at once. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const id = this.options.self().id;
    await runAll(this.options.redis, [
      ["del", this.options.keys.replica(id)],
      ["srem", this.options.keys.replicas(), id],
    ]).catch((err: unknown) => this.#failed(err));
  }

  #failed(err: unknown): void {
    this.options.log.warn({ err: (err as Error).message }, "publishing replica liveness failed");
  }
}
