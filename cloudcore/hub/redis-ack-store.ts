import type { RedisClient } from "../cluster/redis-client.js";
import { tryParseJson } from "../../protocol/json.js";
import { z } from "zod";
import type { AckRecord, AckStore } from "./ack-store.js";

const AckRecordSchema = z.object({
  resourceVersion: z.string(),
  uid: z.string().optional(),
  digest: z.string().optional(),
});

/**
 * Acks in Redis: one hash per node, field = wire resource, value = JSON AckRecord. The braces make
 * the node name the hash tag, so a node's key stays on one shard of a Redis Cluster.
 */
export class RedisAckStore implements AckStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix = "edgefleet:acked:",
  ) {}

  keyOf(node: string): string {
    return `${this.prefix}{${node}}`;
  }

  async load(node: string): Promise<Map<string, AckRecord>> {
    const fields = await this.redis.hgetall(this.keyOf(node));
    const out = new Map<string, AckRecord>();
    for (const [key, value] of Object.entries(fields)) {
      const parsed = AckRecordSchema.safeParse(tryParseJson(value));
      // A record we cannot read is treated as "not acked": the object is simply sent again.
      if (parsed.success) out.set(key, stripUndefined(parsed.data));
    }
    return out;
  }

  async record(node: string, key: string, record: AckRecord): Promise<void> {
    await this.redis.hset(this.keyOf(node), key, JSON.stringify(record));
  }

  async forget(node: string, key: string): Promise<void> {
    await this.redis.hdel(this.keyOf(node), key);
  }

  async forgetNode(node: string): Promise<void> {
    await this.redis.del(this.keyOf(node));
  }
}

function stripUndefined(r: {
  resourceVersion: string;
  uid?: string | undefined;
  digest?: string | undefined;
}): AckRecord {
  return {
    resourceVersion: r.resourceVersion,
    ...(r.uid !== undefined && { uid: r.uid }),
    ...(r.digest !== undefined && { digest: r.digest }),
  };
}
