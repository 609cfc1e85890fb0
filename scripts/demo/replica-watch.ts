/**
 * What each cloudcore replica says about itself on /metrics, read every couple of seconds while
 * the main job runs: nodes connected and owned per replica (the progress line), and resident
 * memory (the per-node memory figure). Read straight from the replicas, not through Prometheus, so
 * that a killed replica shows as down at once rather than a scrape later.
 */
import type { CloudcoreReplica } from "../env/cloudcore-replica.js";
import { httpGet } from "../env/http-probe.js";

export interface ReplicaReading {
  readonly id: string;
  /** False once the process is gone or its /metrics stopped answering. */
  readonly up: boolean;
  readonly connected: number;
  readonly owned: number;
  readonly rssBytes: number;
}

/** Sum of every sample of `name` in a Prometheus text exposition (any labels). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name)) continue;
    const next = line.charAt(name.length);
    if (next !== " " && next !== "{") continue;
    const value = Number(line.slice(line.lastIndexOf(" ") + 1));
    if (Number.isFinite(value)) sum += value;
  }
  return sum;
}

export async function readReplica(replica: CloudcoreReplica): Promise<ReplicaReading> {
  const down = { id: replica.id, up: false, connected: 0, owned: 0, rssBytes: 0 };
  if (!replica.running) return down;
  try {
    const { status, body } = await httpGet(`http://${replica.metricsHost}:${replica.ports.metrics}/metrics`);
    if (status !== 200) return down;
    return {
      id: replica.id,
      up: true,
      connected: metricSum(body, "edgefleet_connected_nodes"),
      owned: metricSum(body, "edgefleet_owned_nodes"),
      rssBytes: metricSum(body, "edgefleet_cloudcore_process_resident_memory_bytes"),
    };
  } catch {
    return down;
  }
}

/** Reads every replica every `intervalMs` until stopped; the latest readings are always at hand. */
export class ReplicaWatch {
  #latest: ReplicaReading[] = [];
  #timer: NodeJS.Timeout | undefined;
  #reading: Promise<void> | undefined;

  constructor(
    private readonly replicas: readonly CloudcoreReplica[],
    private readonly intervalMs = 2000,
  ) {}

  get latest(): readonly ReplicaReading[] {
    return this.#latest;
  }

  async read(): Promise<readonly ReplicaReading[]> {
    this.#latest = await Promise.all(this.replicas.map((r) => readReplica(r)));
    return this.#latest;
  }

  start(): void {
    const tick = (): void => {
      this.#reading = this.read().then(
        () => undefined,
        () => undefined,
      );
      void this.#reading.then(() => {
        if (this.#timer) this.#timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.#timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#reading;
  }

  /** "cloudcore-0 334 · cloudcore-1 333 · cloudcore-2 down": connected nodes per replica. */
  describe(): string {
    return this.#latest.map((r) => `${r.id} ${r.up ? r.connected : "down"}`).join(" · ");
  }
}
