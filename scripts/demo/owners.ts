/**
 * Who owns which node, from the cluster's Redis owner records (what the replicas themselves go
 * by): for the failover, which replica to kill and when every node it owned has a live owner again.
 */
import type { Redis } from "ioredis";
import { ClusterKeys } from "../../cloudcore/cluster/keys.js";

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

  /** Nodes per owning replica ("" counts the nodes without an owner). */
  async counts(nodes: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const o of await this.owners(nodes)) counts.set(o ?? "", (counts.get(o ?? "") ?? 0) + 1);
    return counts;
  }
}
