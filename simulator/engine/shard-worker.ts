/**
 * A piscina worker's one long task: own a shard of emulated nodes (their joins, tunnels, timers)
 * until told to stop. The main thread only coordinates and aggregates over the task's MessagePort.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { parseJoinToken, requestNodeCertificate, type NodePems } from "../../edgecore/hub/join.js";
import { CredentialCache } from "./credential-cache.js";
import { EmulatedNode, type ShardContext } from "./emulated-node.js";
import { LatencySet } from "./latencies.js";
import { nodeAddress } from "./node-behaviour.js";
import {
  emptyCounters,
  type FromShard,
  type ShardSnapshot,
  type ShardSpec,
  type ShardTask,
  type ToShard,
} from "./shard-messages.js";

const MAX_JOIN_ATTEMPTS = 5;
/** Joins and tunnel set-ups in flight at once per worker. */
const IN_FLIGHT = 64;

/** Adds `n` to an a.b.c.d address. */
export function offsetAddress(base: string, n: number): string {
  const parts = base.split(".").map(Number);
  let value =
    (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
  value = (value + n) >>> 0;
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join(".");
}

class Shard {
  readonly #counters = emptyCounters();
  #latencies = new LatencySet();
  readonly #errors: string[] = [];
  readonly #nodes: EmulatedNode[] = [];
  readonly #log = pino({ level: "silent" });
  readonly #cache: CredentialCache | undefined;
  readonly #caHash: string;
  readonly #ctx: ShardContext;
  #stopping = false;
  readonly #stopped: Promise<void>;
  #resolveStopped!: () => void;

  constructor(
    private readonly spec: ShardSpec,
    private readonly port: ShardTask["port"],
  ) {
    this.#cache = spec.certCache ? new CredentialCache(spec.certCache) : undefined;
    this.#caHash = parseJoinToken(spec.token).caHash;
    this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    this.#ctx = {
      counters: this.#counters,
      latencies: () => this.#latencies,
      error: (text) => this.#error(text),
      behaviour: spec.behaviour,
      labels: spec.labels,
    };
    port.on("message", (message: ToShard) => this.#onCommand(message));
  }

  async run(): Promise<ShardSnapshot> {
    await Promise.race([this.#ramp(), this.#stopped]);
    await this.#stopped;
    // Close in batches: thousands of close handshakes at once would only queue.
    for (let i = 0; i < this.#nodes.length; i += 500)
      await Promise.all(this.#nodes.slice(i, i + 500).map((n) => n.stop()));
    this.#cache?.close();
    const last = this.#snapshot();
    this.port.close();
    return last;
  }

  async #ramp(): Promise<void> {
    const { spec } = this;
    const started = performance.now();
    let inFlight = 0;
    let failed = 0;
    const slots: (() => void)[] = [];
    const startOne = async (i: number): Promise<void> => {
      const index = spec.firstIndex + i;
      const name = `${spec.prefix}-${index}`;
      try {
        const pems = await this.#credentials(name);
        if (this.#stopping) return;
        const node = new EmulatedNode(
          name,
          index,
          nodeAddress(index),
          {
            server: spec.server,
            credentials: pems,
            cloud: spec.cloud,
            localAddress: offsetAddress(
              spec.sourceAddressBase,
              Math.floor(index / spec.nodesPerSourceAddress),
            ),
            logger: this.#log,
            requestTimeoutMs: 120_000,
          },
          this.#ctx,
        );
        this.#nodes.push(node);
        await node.start();
      } catch (err) {
        failed++;
        this.#error(`${name}: ${(err as Error).message}`);
      }
    };
    const running: Promise<void>[] = [];
    for (let i = 0; i < spec.count && !this.#stopping; i++) {
      // Pace: node i starts no earlier than i / rate after the start.
      const due = started + (i * 1000) / spec.ratePerSecond;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      while (inFlight >= IN_FLIGHT) await new Promise<void>((r) => slots.push(r));
      inFlight++;
      running.push(
        startOne(i).finally(() => {
          inFlight--;
          slots.shift()?.();
        }),
      );
    }
    await Promise.all(running);
    this.#post({ type: "ramped", connected: this.#counters.connected, failed });
  }

  async #credentials(name: string): Promise<NodePems> {
    const cached = this.#cache?.get(name, this.#caHash);
    if (cached) return cached;
    for (let attempt = 1; ; attempt++) {
      const t0 = performance.now();
      try {
        const pems = await requestNodeCertificate({
          server: this.spec.certificateServer,
          token: this.spec.token,
          nodeName: name,
          timeoutMs: 60_000,
        });
        this.#latencies.record("join", performance.now() - t0);
        this.#counters.joined++;
        this.#cache?.put(name, pems);
        return pems;
      } catch (err) {
        this.#counters.joinErrors++;
        if (attempt >= MAX_JOIN_ATTEMPTS || this.#stopping) throw err;
        await sleep(Math.random() * 1000 * 2 ** attempt);
      }
    }
  }

  #onCommand(message: ToShard): void {
    switch (message.type) {
      case "snapshot":
        this.#post({ type: "snapshot", snapshot: this.#snapshot() });
        break;
      case "phase": {
        const snapshot = this.#snapshot();
        this.#latencies = new LatencySet();
        this.#post({ type: "phase-started", name: message.name, snapshot });
        break;
      }
      case "disconnect": {
        const up = this.#nodes.filter((n) => n.hub.status.type === "connected");
        const count = Math.round(up.length * message.fraction);
        // A random sample: Fisher–Yates over the first `count`.
        for (let i = 0; i < count; i++) {
          const j = i + Math.floor(Math.random() * (up.length - i));
          [up[i], up[j]] = [up[j] as EmulatedNode, up[i] as EmulatedNode];
          up[i]?.interrupt(message.downMs);
        }
        this.#post({ type: "disconnected", count });
        break;
      }
      case "stop":
        this.#stopping = true;
        this.#resolveStopped();
        break;
    }
  }

  #snapshot(): ShardSnapshot {
    return {
      worker: this.spec.worker,
      nodes: this.#nodes.length,
      counters: { ...this.#counters },
      latencies: this.#latencies.encode(),
      errors: [...this.#errors],
    };
  }

  #error(text: string): void {
    // The last 20 distinct errors (numbers stripped, so one cause counts once).
    const key = text.replace(/\d+/g, "N");
    if (this.#errors.some((e) => e.replace(/\d+/g, "N") === key)) return;
    this.#errors.push(text);
    if (this.#errors.length > 20) this.#errors.shift();
  }

  #post(message: FromShard): void {
    this.port.postMessage(message);
  }
}

export default async function runShard(task: ShardTask): Promise<ShardSnapshot> {
  return new Shard(task.spec, task.port).run();
}
