/**
 * The failover the main job shows: the replica that owns the real edge node is killed (SIGKILL,
 * as a crash: it releases nothing), and we time how long until every node it owned has a live
 * owner again (Redis owner records) and every tunnel is back (through the balancer, to a survivor).
 */
import type { CloudcoreReplica } from "../env/cloudcore-replica.js";
import type { OwnerRecords } from "../../cloudcore/cluster/owner-records.js";

export interface FailoverResult {
  readonly killed: string;
  /** Nodes the killed replica owned. */
  readonly orphans: number;
  /** Nodes per replica before the kill. */
  readonly ownersBefore: Record<string, number>;
  /** Nodes per replica once every node is owned again. */
  readonly ownersAfter: Record<string, number>;
  /** Kill → every orphan owned by a survivor. */
  readonly reownedSeconds: number;
  /** Kill → every node owned by a survivor and every tunnel up again. */
  readonly recoveredSeconds: number;
}

export interface FailoverOptions {
  readonly replicas: readonly CloudcoreReplica[];
  readonly owners: OwnerRecords;
  /** Every node of the run (simulated and real). */
  readonly nodes: readonly string[];
  /** The node whose owner is killed (the real edge node: its kubectl logs must follow). */
  readonly victimOf: string;
  /** Whether every tunnel is up (the simulator's count and the real edge's). */
  readonly allConnected: () => Promise<boolean>;
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
  /** Called just before the kill (so the job does not report the victim as a failure). */
  readonly onKill?: (replica: CloudcoreReplica) => void;
  readonly signal?: AbortSignal;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function killOwnerAndWait(o: FailoverOptions): Promise<FailoverResult> {
  const before = await o.owners.owners(o.nodes);
  const countsOf = (owners: readonly (string | undefined)[]): Record<string, number> => {
    const counts: Record<string, number> = {};
    for (const owner of owners) counts[owner ?? "(none)"] = (counts[owner ?? "(none)"] ?? 0) + 1;
    return counts;
  };
  const victimId = before[o.nodes.indexOf(o.victimOf)];
  const victim = o.replicas.find((r) => r.id === victimId) ?? o.replicas[0];
  if (!victim) throw new Error("no replica to kill");
  const orphans = before.filter((owner) => owner === victim.id).length;
  o.log(
    `failover: owners ${Object.entries(countsOf(before))
      .map(([r, n]) => `${r}=${n}`)
      .join(" ")}; killing ${victim.id} (owns ${o.victimOf} and ${orphans - 1} more nodes) with SIGKILL`,
  );
  o.onKill?.(victim);
  const killedAt = Date.now();
  await victim.kill();
  let reownedMs = -1;
  for (;;) {
    o.signal?.throwIfAborted();
    const now = await o.owners.owners(o.nodes);
    const owned = now.every((owner) => owner !== undefined && owner !== victim.id);
    if (owned && reownedMs < 0) reownedMs = Date.now() - killedAt;
    if (owned && (await o.allConnected())) {
      const recoveredMs = Date.now() - killedAt;
      const after = countsOf(now);
      o.log(
        `failover: every node re-owned ${(reownedMs / 1000).toFixed(1)} s and every tunnel back ${(recoveredMs / 1000).toFixed(1)} s after the kill; owners now ${Object.entries(
          after,
        )
          .map(([r, n]) => `${r}=${n}`)
          .join(" ")}`,
      );
      return {
        killed: victim.id,
        orphans,
        ownersBefore: countsOf(before),
        ownersAfter: after,
        reownedSeconds: reownedMs / 1000,
        recoveredSeconds: recoveredMs / 1000,
      };
    }
    if (Date.now() - killedAt > o.timeoutMs)
      throw new Error(
        `failover not complete ${o.timeoutMs / 1000} s after killing ${victim.id}: ${now.filter((x) => x === undefined || x === victim.id).length} nodes without a live owner`,
      );
    await sleep(250);
  }
}
