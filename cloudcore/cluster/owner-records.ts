/**
 * Who owns which node, read from the cluster's Redis owner records (what the replicas themselves
 * go by), for tools outside a replica: the main job's failover, the failover and rebalancing
 * benchmarks.
 */
import type { Redis } from "ioredis";
import { ClusterKeys } from "./keys.js";

export class OwnerRecords {
  readonly #keys = new ClusterKeys();

  constructor(private readonly redis: Redis) {}

  /** The owning replica of each node (undefined: none), in the order given. */
  async owners(nodes: readonly string[]): Promise<(string | undefined)[]> {
    const out: (string | undefined)[] = [];
    for (let i = 0; i < nodes.length; i += 1000) {
      const records = await this.redis.mget(nodes.slice(i, i + 1000).map((n) => this.#keys.owner(n)));
      // A record is `<replicaId> <epoch> <lock token>`.
      for (const r of records) out.push(r?.split(" ")[0]);
    }
    return out;
  }

  async ownerOf(node: string): Promise<string | undefined> {
    return (await this.owners([node]))[0];
  }
}
