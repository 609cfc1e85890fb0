import type { Logger } from "pino";
import { PatchType, type KubeRest } from "../kube/kube-rest.js";
import type { NodeJson, Taint } from "../kube/objects.js";
import { assertNodeEpoch } from "../cluster/node-fence.js";
import { writeNodeLease } from "../kube/node-lease.js";
import { retryOn } from "../kube/retry.js";

/** Taint put on an edge node whose tunnel has been gone longer than the grace period. */
export const OFFLINE_TAINT: Taint = { key: "node.edgefleet.io/offline", effect: "NoSchedule" };
/** Node condition cloudcore keeps: is the edge's tunnel up? */
export const TUNNEL_CONDITION = "EdgeTunnelConnected";

export interface NodeHealthOptions {
  readonly rest: KubeRest;
  /** Edge nodes this replica answers for (all of them in a single replica). */
  readonly edgeNodes: () => Iterable<string>;
  readonly isConnected: (node: string) => boolean;
  /** Throws unless this replica still owns the node (fencing); awaited before every write. */
  readonly fence?: (node: string) => Promise<void>;
  /** This replica's fencing epoch for the node (cluster mode): taint edits are fenced in the apiserver. */
  readonly epochOf?: (node: string) => number | undefined;
  /** The cached Node, to notice a taint left by an earlier cloudcore. */
  readonly nodeObject: (node: string) => NodeJson | undefined;
  /** A node offline for less than this is left alone (default 40 s). */
  readonly offlineGraceMs?: number;
  /**
   * After this long offline cloudcore stops vouching for the node, and Kubernetes' own node
   * lifecycle takes over (NotReady, then eviction per the pods' tolerations). 0 = never.
   */
  readonly maxAutonomyMs?: number;
  /** How often offline nodes' Leases are renewed (default 10 s, as a kubelet renews). */
  readonly renewIntervalMs?: number;
  readonly leaseDurationSeconds?: number;
  readonly now?: () => number;
  readonly log: Logger;
}

interface Offline {
  readonly since: number;
  tainted: boolean;
  expired: boolean;
}

/**
 * Offline autonomy. An edge node that loses its tunnel keeps running its pods from its local store,
 * so cloudcore must not let Kubernetes evict them. The node lifecycle controller marks a node
 * Unknown (and taints it NoExecute, which evicts) only when both its Ready heartbeat and its Lease
 * go stale; so while a node is offline, cloudcore renews the node's Lease on its behalf:
 * - first `offlineGraceMs`: nothing visible changes (a blip is not an outage);
 * - then: Ready stays True, the node gets the `node.edgefleet.io/offline:NoSchedule` taint (no new
 *   pods land there) and condition EdgeTunnelConnected=False; its pods stay, Running as last reported;
 * - after `maxAutonomyMs` (if set): cloudcore stops renewing, and Kubernetes' usual NotReady and
 *   taint-based eviction apply.
 * When the tunnel comes back the taint goes and the condition turns True. Nodes that are offline
 * when cloudcore starts count as offline from that moment.
 */
export class NodeHealth {
  readonly #offline = new Map<string, Offline>();
  readonly #startedAt: number;
  #timer: NodeJS.Timeout | undefined;
  #tick: Promise<void> = Promise.resolve();
  readonly #now: () => number;
  readonly #grace: number;
  readonly #log: Logger;

  constructor(private readonly options: NodeHealthOptions) {
    this.#now = options.now ?? Date.now;
    this.#startedAt = this.#now();
    this.#grace = options.offlineGraceMs ?? 40_000;
    this.#log = options.log.child({ component: "nodehealth" });
  }

  start(): void {
    if (this.#timer) return;
    const interval = this.options.renewIntervalMs ?? 10_000;
    this.#timer = setInterval(
      () => {
        this.#tick = this.#tick.then(() => this.tick());
      },
      Math.min(interval, Math.max(250, Math.floor(this.#grace / 4))),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#tick;
  }

  /** The node's tunnel opened (here). */
  connected(node: string): void {
    const state = this.#offline.get(node);
    this.#offline.delete(node);
    const object = this.options.nodeObject(node);
    const marked =
      (object?.spec?.taints ?? []).some((t) => t.key === OFFLINE_TAINT.key) ||
      (object?.status?.conditions ?? []).some((c) => c.type === TUNNEL_CONDITION && c.status !== "True");
    if (state?.tainted || marked) {
      this.#tick = this.#tick.then(async () => {
        try {
          await this.options.fence?.(node);
          await this.#setOnline(node);
        } catch (err) {
          this.#failed(node, "clearing the offline taint", err);
        }
      });
    }
  }

  /** The node's tunnel closed. */
  disconnected(node: string): void {
    if (!this.#offline.has(node))
      this.#offline.set(node, { since: this.#now(), tainted: false, expired: false });
  }

  /** Offline nodes and since when (ms epoch). */
  offline(): ReadonlyMap<string, number> {
    return new Map([...this.#offline].map(([node, s]) => [node, s.since]));
  }

  /** One pass: renew offline nodes' Leases, taint those past the grace period. */
  async tick(): Promise<void> {
    const now = this.#now();
    const edgeNodes = new Set(this.options.edgeNodes());
    for (const node of edgeNodes) {
      if (!this.options.isConnected(node) && !this.#offline.has(node))
        this.#offline.set(node, { since: this.#startedAt, tainted: false, expired: false });
    }
    const maxAutonomy = this.options.maxAutonomyMs ?? 0;
    for (const [node, state] of this.#offline) {
      if (!edgeNodes.has(node)) {
        this.#offline.delete(node);
        continue;
      }
      if (this.options.isConnected(node)) {
        this.connected(node);
        continue;
      }
      const offlineFor = now - state.since;
      if (maxAutonomy > 0 && offlineFor >= maxAutonomy) {
        if (!state.expired) {
          state.expired = true;
          this.#log.warn(
            { node, offlineMs: offlineFor },
            "offline past max autonomy: no longer renewing its lease",
          );
        }
        continue;
      }
      try {
        await this.options.fence?.(node);
        await this.#renewLease(node);
        if (!state.tainted && offlineFor >= this.#grace) {
          await this.#setOffline(node, state.since);
          state.tainted = true;
          this.#log.info(
            { node, offlineMs: offlineFor },
            "edge node offline past grace: tainted NoSchedule, pods kept",
          );
        }
      } catch (err) {
        this.#failed(node, "keeping an offline node", err);
      }
    }
  }

  async #renewLease(node: string): Promise<void> {
    const renewTime = microTime(this.#now());
    await writeNodeLease(this.options.rest, node, (current) =>
      current
        ? { ...current, renewTime }
        : { holderIdentity: node, leaseDurationSeconds: this.options.leaseDurationSeconds ?? 40, renewTime },
    );
  }

  async #setOffline(node: string, since: number): Promise<void> {
    await this.#editTaints(node, (taints) =>
      taints.some((t) => t.key === OFFLINE_TAINT.key)
        ? undefined
        : [...taints, { ...OFFLINE_TAINT, timeAdded: rfc3339(this.#now()) }],
    );
    await this.#setCondition(
      node,
      "False",
      "TunnelLost",
      `edge tunnel closed at ${rfc3339(since)}; pods kept running (offline autonomy)`,
    );
  }

  async #setOnline(node: string): Promise<void> {
    await this.#editTaints(node, (taints) =>
      taints.some((t) => t.key === OFFLINE_TAINT.key)
        ? taints.filter((t) => t.key !== OFFLINE_TAINT.key)
        : undefined,
    );
    await this.#setCondition(node, "True", "TunnelConnected", "edge tunnel is up");
  }

  /** Read-modify-write of spec.taints (a list without a merge key), retried on conflict. */
  async #editTaints(node: string, edit: (taints: Taint[]) => Taint[] | undefined): Promise<void> {
    const path = `/api/v1/nodes/${node}`;
    await retryOn(async () => {
      const current = await this.options.rest.get<NodeJson>(path);
      // The PUT below carries this read's resourceVersion, so checking its owner epoch fences it.
      const mine = this.options.epochOf?.(node);
      if (mine !== undefined) assertNodeEpoch(current, mine);
      const taints = edit(current.spec?.taints ?? []);
      if (!taints) return;
      await this.options.rest.request("update", path, {
        body: { ...current, spec: { ...current.spec, taints } },
      });
    });
  }

  async #setCondition(node: string, status: string, reason: string, message: string): Promise<void> {
    const now = rfc3339(this.#now());
    await this.options.rest.request("patch", `/api/v1/nodes/${node}/status`, {
      contentType: PatchType.StrategicMerge,
      body: {
        status: {
          conditions: [
            {
              type: TUNNEL_CONDITION,
              status,
              reason,
              message,
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    });
  }

  #failed(node: string, what: string, err: unknown): void {
    this.#log.warn({ node, err: (err as Error).message }, `${what} failed; retrying next pass`);
  }
}

/** metav1.Time: RFC 3339 with seconds. */
const rfc3339 = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
/** metav1.MicroTime: RFC 3339 with microseconds. */
const microTime = (ms: number): string => new Date(ms).toISOString().replace(/Z$/, "000Z");
