import type { Redis } from "ioredis";
import { OwnerRecords } from "../../cloudcore/cluster/owner-records.js";

/** Reads the owning replica of each node from the cluster's Redis owner records (undefined = none). */
export function ownerReader(redis: Redis, names: readonly string[]): () => Promise<(string | undefined)[]> {
  const records = new OwnerRecords(redis);
  return () => records.owners(names);
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
