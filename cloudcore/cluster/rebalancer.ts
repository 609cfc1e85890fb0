import type { Logger } from "pino";
import type { ReplicaInfo } from "./replica-registry.js";

export interface ShedPlanInput {
  readonly self: string;
  readonly replicas: readonly Pick<ReplicaInfo, "id" | "connected">[];
  /** Allowed spread around the even share (0.1 = ±10 %). */
  readonly tolerance: number;
  /** At most this many nodes shed per round (rate limit). */
  readonly maxPerRound: number;
}

/**
 * How many nodes this replica should shed now. The spread is out of balance when any replica is
 * outside ±tolerance of the even share, above it or below it (a joining replica starts at zero).
 * While it is, every replica above the share sheds down towards it, at most `maxPerRound` per
 * round; within the tolerance nobody sheds, so a balanced cluster does not flap. Every replica runs
 * the same rule on the same published counts, and the balancer (leastconn) sends the shed nodes to
 * the emptiest replicas. No node-to-replica table anywhere.
 */
export function nodesToShed(input: ShedPlanInput): number {
  const live = input.replicas.length;
  if (live < 2) return 0;
  const total = input.replicas.reduce((n, r) => n + r.connected, 0);
  const mine = input.replicas.find((r) => r.id === input.self)?.connected ?? 0;
  const share = total / live;
  const upper = Math.ceil(share * (1 + input.tolerance));
  const lower = Math.floor(share * (1 - input.tolerance));
  const unbalanced = input.replicas.some((r) => r.connected > upper || r.connected < lower);
  if (!unbalanced || mine <= Math.ceil(share)) return 0;
  return Math.min(input.maxPerRound, mine - Math.ceil(share));
}

export interface RebalancerOptions {
  readonly self: string;
  readonly listReplicas: () => Promise<ReplicaInfo[]>;
  /** Publishes this replica's current count first, so every replica decides on fresh figures. */
  readonly publish: () => Promise<void>;
  /** Closes `count` tunnels with "reconnect" (the node stays owned until another replica asks). */
  readonly shed: (count: number) => number;
  readonly intervalMs?: number;
  readonly tolerance?: number;
  readonly maxPerRound?: number;
  readonly log: Logger;
}

/** Runs `nodesToShed` every interval and sheds accordingly. */
export class Rebalancer {
  #timer: NodeJS.Timeout | undefined;
  #running = false;

  constructor(private readonly options: RebalancerOptions) {}

  start(): void {
    this.#timer ??= setInterval(() => void this.round(), this.options.intervalMs ?? 5000);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One round; returns how many tunnels were closed. */
  async round(): Promise<number> {
    if (this.#running) return 0;
    this.#running = true;
    try {
      await this.options.publish();
      const replicas = await this.options.listReplicas();
      const count = nodesToShed({
        self: this.options.self,
        replicas,
        tolerance: this.options.tolerance ?? 0.1,
        maxPerRound: this.options.maxPerRound ?? 50,
      });
      if (count === 0) return 0;
      const shed = this.options.shed(count);
      this.options.log.info(
        { shed, replicas: replicas.map((r) => `${r.id}=${r.connected}`).join(" ") },
        "rebalancing: asked edges to reconnect",
      );
      return shed;
    } catch (err) {
      this.options.log.warn({ err: (err as Error).message }, "rebalancing round failed");
      return 0;
    } finally {
      this.#running = false;
    }
  }
}
