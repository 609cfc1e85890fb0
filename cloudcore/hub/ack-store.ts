/**
 * What each node has acknowledged: object key → resourceVersion. Reliable delivery skips a message
 * whose version the node already acked (after a reconnect or a handover). In one replica this is
 * memory; shared across replicas it is a Redis hash per node (the multi-master issue), instead of
 * KubeEdge's one ObjectSync object per node per object in etcd.
 */
export interface AckStore {
  acked(node: string, key: string): Promise<string | undefined>;
  record(node: string, key: string, resourceVersion: string): Promise<void>;
  forget(node: string, key: string): Promise<void>;
}

export class MemoryAckStore implements AckStore {
  readonly #nodes = new Map<string, Map<string, string>>();

  async acked(node: string, key: string): Promise<string | undefined> {
    return this.#nodes.get(node)?.get(key);
  }

  async record(node: string, key: string, resourceVersion: string): Promise<void> {
    let acks = this.#nodes.get(node);
    if (!acks) this.#nodes.set(node, (acks = new Map()));
    acks.set(key, resourceVersion);
  }

  async forget(node: string, key: string): Promise<void> {
    this.#nodes.get(node)?.delete(key);
  }
}

/**
 * True when `candidate` is not newer than `acked`. resourceVersions are opaque in Kubernetes, but
 * etcd's are decimal integers (KubeEdge parses them as uint64); anything else is never "older".
 */
export function notNewerThan(candidate: string, acked: string | undefined): boolean {
  if (acked === undefined || !/^\d{1,30}$/.test(candidate) || !/^\d{1,30}$/.test(acked)) return false;
  return BigInt(candidate) <= BigInt(acked);
}
