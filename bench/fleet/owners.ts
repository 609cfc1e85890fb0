import type { Redis } from "ioredis";
import { ClusterKeys } from "../../cloudcore/cluster/keys.js";

/** Reads the owning replica of each node from the cluster's Redis owner records (undefined = none). */
export function ownerReader(redis: Redis, names: readonly string[]): () => Promise<(string | undefined)[]> {
  const keys = new ClusterKeys();
  return async () => {
    const out: (string | undefined)[] = [];
    for (let i = 0; i < names.length; i += 1000) {
      const records = await redis.mget(names.slice(i, i + 1000).map((n) => keys.owner(n)));
      for (const r of records) out.push(r?.split(" ")[0]);
    }
    return out;
  };
}

/** Polls the owner records until every node has one (up to a minute); resolves to that reading. */
export async function untilAllOwned(
  read: () => Promise<(string | undefined)[]>,
): Promise<(string | undefined)[]> {
  for (let i = 0; ; i++) {
    const owners = await read();
    if (owners.every((o) => o !== undefined)) return owners;
    if (i > 600) throw new Error(`only ${owners.filter(Boolean).length} of ${owners.length} nodes owned`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
