/** Messages between a fleet benchmark's orchestrator (failover, rebalance) and its edge client processes. */

export interface ClientStart {
  readonly type: "start";
  readonly token: string;
  readonly certificatePort: number;
  /** The balancer port this client's edges dial. */
  readonly tunnelPort: number;
  readonly firstNode: number;
  readonly count: number;
  readonly localAddress: string;
  /** Register a Node object per edge and renew its Lease (needed to judge Ready). */
  readonly register: boolean;
  readonly prefix: string;
}

/** What happened to the tunnels since the last `track`. */
export interface TunnelHistory {
  /** Per edge (in node order), tunnels re-established. */
  readonly reconnects: readonly number[];
  /** Every time a tunnel was down before it came back, in ms. */
  readonly downMs: readonly number[];
}

export type ToClient =
  ClientStart | { readonly type: "status" } | { readonly type: "track" } | { readonly type: "stop" };
export type FromClient =
  | {
      readonly type: "connected";
      readonly count: number;
      readonly failed: number;
      readonly elapsedMs: number;
    }
  | ({
      readonly type: "status";
      readonly connected: number;
      readonly total: number;
      readonly firstNode: number;
    } & TunnelHistory)
  | { readonly type: "tracking" }
  | { readonly type: "error"; readonly message: string };
