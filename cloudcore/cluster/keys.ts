/**
 * Redis keys of the cloudcore cluster. Per-node keys put the node name in braces (a hash tag) so
 * that all of one node's keys live on one Redis Cluster shard and a Lua script may touch them together.
 */
export class ClusterKeys {
  constructor(readonly prefix = "edgefleet:") {}

  /** The node's ownership lock (redlock; value = the lock's random token). */
  lock(node: string): string {
    return `${this.prefix}lock:{${node}}`;
  }

  /** The node's fencing counter: incremented on every acquisition. */
  epoch(node: string): string {
    return `${this.prefix}epoch:{${node}}`;
  }

  /** Who owns the node: `<replicaId> <epoch> <lock token>`, with the lock's TTL. */
  owner(node: string): string {
    return `${this.prefix}owner:{${node}}`;
  }

  /** A replica's liveness key (JSON: address, ports, load), with a short TTL. */
  replica(id: string): string {
    return `${this.prefix}replica:${id}`;
  }

  /** Set of replica ids that ever registered (members whose liveness key expired are dead). */
  replicas(): string {
    return `${this.prefix}replicas`;
  }

  /** Channel a replica listens on for handover requests. */
  handover(id: string): string {
    return `${this.prefix}handover:${id}`;
  }
}
