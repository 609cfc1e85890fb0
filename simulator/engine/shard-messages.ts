/** What the simulation's main thread and its shard workers say to each other. */
import type { MessagePort } from "node:worker_threads";
import type { LatencyName } from "./latencies.js";
import type { NodeBehaviour } from "./node-behaviour.js";

/** What every shard of a simulation shares, as the main thread was given it. */
export interface FleetSettings {
  readonly prefix: string;
  /** The tunnel endpoint (a balancer in front of cloudcore replicas), host:port. */
  readonly server: string;
  readonly certificateServer: string;
  readonly token: string;
  readonly behaviour: NodeBehaviour;
  readonly labels: Readonly<Record<string, string>>;
  readonly cloud: "edgefleet" | "kubeedge";
  /** First loopback source address (a.b.c.d); node i dials from the address i / perAddress past it. */
  readonly sourceAddressBase: string;
  readonly nodesPerSourceAddress: number;
  /** SQLite file of joined certificates (created if missing); none = join every time. */
  readonly certCache?: string;
}

/** One worker's part. */
export interface ShardSpec extends FleetSettings {
  readonly worker: number;
  /** Global index of the shard's first node; node i is `<prefix>-<index>`. */
  readonly firstIndex: number;
  readonly count: number;
  /** Tunnels this worker opens per second while ramping. */
  readonly ratePerSecond: number;
}

export interface ShardTask {
  readonly spec: ShardSpec;
  readonly port: MessagePort;
}

export interface ShardCounters {
  joined: number;
  joinErrors: number;
  /** Nodes whose tunnel is up now. */
  connected: number;
  registered: number;
  registerErrors: number;
  podsHeld: number;
  podsRunning: number;
  podsDeleted: number;
  messagesIn: number;
  messagesOut: number;
  requestErrors: number;
  reconnects: number;
}

export const emptyCounters = (): ShardCounters => ({
  joined: 0,
  joinErrors: 0,
  connected: 0,
  registered: 0,
  registerErrors: 0,
  podsHeld: 0,
  podsRunning: 0,
  podsDeleted: 0,
  messagesIn: 0,
  messagesOut: 0,
  requestErrors: 0,
  reconnects: 0,
});

export interface ShardSnapshot {
  readonly worker: number;
  readonly nodes: number;
  readonly counters: ShardCounters;
  /** Histograms of the current phase, compressed. */
  readonly latencies: Partial<Record<LatencyName, string>>;
  /** The last few distinct errors, for the report. */
  readonly errors: readonly string[];
}

export type ToShard =
  | { readonly type: "snapshot" }
  /** Start a new phase: histograms restart (counters do not). */
  | { readonly type: "phase"; readonly name: string }
  /** Chaos: drop the tunnels of a fraction of this shard's nodes; they reconnect after `downMs`. */
  | { readonly type: "disconnect"; readonly fraction: number; readonly downMs: number }
  | { readonly type: "stop" };

export type FromShard =
  | { readonly type: "snapshot"; readonly snapshot: ShardSnapshot }
  | { readonly type: "phase-started"; readonly name: string; readonly snapshot: ShardSnapshot }
  | { readonly type: "disconnected"; readonly count: number }
  | { readonly type: "ramped"; readonly connected: number; readonly failed: number };
