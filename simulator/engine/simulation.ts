/**
 * The main thread's side of a simulation: long-lived piscina workers, one shard of nodes each,
 * commanded and summed up over MessagePorts. The main thread holds no sockets.
 */
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MessageChannel, type MessagePort } from "node:worker_threads";
import { Piscina } from "piscina";
import { LatencySet } from "./latencies.js";
import {
  emptyCounters,
  type FromShard,
  type ShardCounters,
  type FleetSettings,
  type ShardSnapshot,
  type ShardSpec,
  type ShardTask,
  type ToShard,
} from "./shard-messages.js";

const here = dirname(fileURLToPath(import.meta.url));
const workerFile = import.meta.url.endsWith(".ts")
  ? { filename: join(here, "shard-worker.ts"), execArgv: ["--import", "tsx"] }
  : { filename: join(here, "shard-worker.js"), execArgv: [] };

export interface SimulationOptions extends FleetSettings {
  /** Nodes of this simulation (of this shard of a sharded run). */
  readonly nodes: number;
  /** Global index of the first node (`--shard i/n` makes runs on several machines disjoint). */
  readonly firstIndex: number;
  /** Worker threads; "auto" = one per core, at most one per 5,000 nodes... at least 1. */
  readonly workers: number | "auto";
  /** Tunnels opened per second in all (spread over the workers). */
  readonly ratePerSecond: number;
}

/** The whole fleet at one moment: counters summed, the current phase's histograms merged. */
export interface FleetSnapshot {
  readonly at: number;
  readonly nodes: number;
  readonly counters: ShardCounters;
  readonly latencies: LatencySet;
  readonly errors: readonly string[];
}

export function workerCount(requested: number | "auto", nodes: number): number {
  if (requested !== "auto") return Math.max(1, Math.min(requested, nodes));
  return Math.max(1, Math.min(availableParallelism(), Math.ceil(nodes / 5000)));
}

function merge(snapshots: readonly ShardSnapshot[]): FleetSnapshot {
  const counters = emptyCounters();
  const latencies = new LatencySet();
  const errors: string[] = [];
  let nodes = 0;
  for (const s of snapshots) {
    nodes += s.nodes;
    for (const key of Object.keys(counters) as (keyof ShardCounters)[]) counters[key] += s.counters[key];
    latencies.add(s.latencies);
    for (const e of s.errors) if (errors.length < 20) errors.push(e);
  }
  return { at: Date.now(), nodes, counters, latencies, errors };
}

interface Shard {
  readonly port: MessagePort;
  readonly done: Promise<ShardSnapshot>;
}

export class Simulation {
  readonly #shards: Shard[];
  readonly #ramped: Promise<{ connected: number; failed: number }>;
  #final: Promise<FleetSnapshot> | undefined;

  private constructor(
    private readonly pool: Piscina,
    shards: Shard[],
  ) {
    this.#shards = shards;
    this.#ramped = Promise.all(
      shards.map((s) => this.#next<Extract<FromShard, { type: "ramped" }>>(s, "ramped")),
    ).then((all) => ({
      connected: all.reduce((n, r) => n + r.connected, 0),
      failed: all.reduce((n, r) => n + r.failed, 0),
    }));
    // Stop waiting for "ramped" if the simulation is stopped first.
    this.#ramped.catch(() => undefined);
  }

  /** Starts the workers; each begins joining and connecting its shard at its share of the rate. */
  static start(options: SimulationOptions): Simulation {
    const workers = workerCount(options.workers, options.nodes);
    const pool = new Piscina({
      ...workerFile,
      minThreads: workers,
      maxThreads: workers,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      // The task runs for the whole simulation with its own event loop work; never block idle.
      atomics: "disabled",
    });
    const perWorker = Math.ceil(options.nodes / workers);
    const shards: Shard[] = [];
    for (let w = 0; w < workers; w++) {
      const count = Math.max(0, Math.min(perWorker, options.nodes - w * perWorker));
      const { port1, port2 } = new MessageChannel();
      const { nodes: _nodes, workers: _workers, ...shared } = options;
      const spec: ShardSpec = {
        ...shared,
        worker: w,
        firstIndex: options.firstIndex + w * perWorker,
        count,
        ratePerSecond: Math.max(1, options.ratePerSecond / workers),
      };
      const done = pool.run({ spec, port: port2 } satisfies ShardTask, {
        transferList: [port2],
      }) as Promise<ShardSnapshot>;
      shards.push({ port: port1, done });
    }
    return new Simulation(pool, shards);
  }

  get workers(): number {
    return this.#shards.length;
  }

  /** Resolves once every worker has tried to start all its nodes. */
  ramped(): Promise<{ connected: number; failed: number }> {
    return this.#ramped;
  }

  async snapshot(): Promise<FleetSnapshot> {
    return merge(
      await this.#ask<Extract<FromShard, { type: "snapshot" }>>({ type: "snapshot" }, "snapshot").then((r) =>
        r.map((m) => m.snapshot),
      ),
    );
  }

  /** Starts phase `name` everywhere; resolves with the phase that just ended. */
  async phase(name: string): Promise<FleetSnapshot> {
    const replies = await this.#ask<Extract<FromShard, { type: "phase-started" }>>(
      { type: "phase", name },
      "phase-started",
    );
    return merge(replies.map((r) => r.snapshot));
  }

  /** Chaos: cuts the tunnels of `fraction` of the connected nodes for `downMs`; resolves to how many. */
  async disconnect(fraction: number, downMs: number): Promise<number> {
    const replies = await this.#ask<Extract<FromShard, { type: "disconnected" }>>(
      { type: "disconnect", fraction, downMs },
      "disconnected",
    );
    return replies.reduce((n, r) => n + r.count, 0);
  }

  /** Stops every node and worker; resolves with the last snapshot. Safe to call twice. */
  stop(): Promise<FleetSnapshot> {
    this.#final ??= (async () => {
      for (const s of this.#shards) s.port.postMessage({ type: "stop" } satisfies ToShard);
      const last = await Promise.all(this.#shards.map((s) => s.done));
      await this.pool.destroy();
      return merge(last);
    })();
    return this.#final;
  }

  async #ask<T extends FromShard>(command: ToShard, reply: T["type"]): Promise<T[]> {
    const answers = Promise.all(this.#shards.map((s) => this.#next<T>(s, reply)));
    for (const s of this.#shards) s.port.postMessage(command);
    return answers;
  }

  #next<T extends FromShard>(shard: Shard, type: T["type"]): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMessage = (message: FromShard): void => {
        if (message.type !== type) return;
        shard.port.off("message", onMessage);
        resolve(message as T);
      };
      shard.port.on("message", onMessage);
      shard.done.then(
        () => {
          shard.port.off("message", onMessage);
          reject(new Error(`worker ended before answering ${type}`));
        },
        (err: unknown) => {
          shard.port.off("message", onMessage);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      );
    });
  }
}
