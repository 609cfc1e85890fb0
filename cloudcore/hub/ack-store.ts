/** What a node acknowledged for one object: its version, and enough to tell a newer or replaced one. */
export interface AckRecord {
  readonly resourceVersion: string;
  /** The object's UID: a different one under the same name is a new object. */
  readonly uid?: string;
  /** Digest of what was sent (cloudcore/controllers/content-digest.ts): equal digests need no resend. */
  readonly digest?: string;
}

/**
 * What each node has acknowledged, keyed by the object's wire resource (`<ns>/<type>/<name>`).
 * Reliable delivery skips what a node already has, and a node that reconnects (to this replica
 * after a restart, or to another) is sent only the difference. In one process this can be memory;
 * shared and durable it is a Redis hash per node (redis-ack-store.ts), instead of KubeEdge's one
 * ObjectSync object per node per object in etcd.
 */
export interface AckStore {
  /** Everything `node` acknowledged. */
  load(node: string): Promise<Map<string, AckRecord>>;
  record(node: string, key: string, record: AckRecord): Promise<void>;
  forget(node: string, key: string): Promise<void>;
  /** Drops a node's records (the Node was deleted). */
  forgetNode(node: string): Promise<void>;
}

export class MemoryAckStore implements AckStore {
  readonly #nodes = new Map<string, Map<string, AckRecord>>();

  async load(node: string): Promise<Map<string, AckRecord>> {
    return new Map(this.#nodes.get(node));
  }

  async record(node: string, key: string, record: AckRecord): Promise<void> {
    let acks = this.#nodes.get(node);
    if (!acks) this.#nodes.set(node, (acks = new Map()));
    acks.set(key, record);
  }

  async forget(node: string, key: string): Promise<void> {
    this.#nodes.get(node)?.delete(key);
  }

  async forgetNode(node: string): Promise<void> {
    this.#nodes.delete(node);
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
