import { Counter, Gauge, Registry } from "prom-client";
import type { ShardCounters } from "../engine/shard-messages.js";
import type { FleetSnapshot } from "../engine/simulation.js";

/**
 * The simulator's figures as Prometheus metrics (`edgefleet_sim_*`), updated from every sample of
 * the fleet. Latencies are the current phase's hdr-histogram quantiles (a summary in all but name).
 */
export class SimulatorMetrics {
  readonly registry = new Registry();
  readonly #nodes = new Gauge({
    name: "edgefleet_sim_nodes",
    help: "emulated nodes by state",
    labelNames: ["state"],
    registers: [this.registry],
  });
  readonly #pods = new Gauge({
    name: "edgefleet_sim_pods",
    help: "pods by state (held at the edges, Running there, Running in the apiserver)",
    labelNames: ["state"],
    registers: [this.registry],
  });
  readonly #messages = new Counter({
    name: "edgefleet_sim_messages_total",
    help: "tunnel messages",
    labelNames: ["direction"],
    registers: [this.registry],
  });
  readonly #errors = new Counter({
    name: "edgefleet_sim_errors_total",
    help: "errors by kind",
    labelNames: ["kind"],
    registers: [this.registry],
  });
  readonly #reconnects = new Counter({
    name: "edgefleet_sim_reconnects_total",
    help: "tunnels re-established",
    registers: [this.registry],
  });
  readonly #latency = new Gauge({
    name: "edgefleet_sim_latency_ms",
    help: "latency quantiles of the current phase (ms)",
    labelNames: ["name", "quantile"],
    registers: [this.registry],
  });
  readonly #latencyCount = new Gauge({
    name: "edgefleet_sim_latency_count",
    help: "latencies recorded in the current phase",
    labelNames: ["name"],
    registers: [this.registry],
  });
  #last: ShardCounters | undefined;

  update(snapshot: FleetSnapshot, apiserverRunning?: number, podCreateErrors?: number): void {
    const c = snapshot.counters;
    this.#nodes.set({ state: "started" }, snapshot.nodes);
    this.#nodes.set({ state: "connected" }, c.connected);
    this.#nodes.set({ state: "registered" }, c.registered);
    this.#pods.set({ state: "held" }, c.podsHeld);
    this.#pods.set({ state: "running_at_edge" }, c.podsRunning);
    if (apiserverRunning !== undefined) this.#pods.set({ state: "running_in_apiserver" }, apiserverRunning);
    const prev = this.#last;
    const delta = (key: keyof ShardCounters): number => Math.max(0, c[key] - (prev?.[key] ?? 0));
    this.#messages.inc({ direction: "in" }, delta("messagesIn"));
    this.#messages.inc({ direction: "out" }, delta("messagesOut"));
    this.#errors.inc({ kind: "join" }, delta("joinErrors"));
    this.#errors.inc({ kind: "register" }, delta("registerErrors"));
    this.#errors.inc({ kind: "request" }, delta("requestErrors"));
    if (podCreateErrors !== undefined)
      this.#errors.inc({ kind: "pod_create" }, Math.max(0, podCreateErrors - (this.#podCreateErrors ?? 0)));
    this.#podCreateErrors = podCreateErrors;
    this.#reconnects.inc(delta("reconnects"));
    this.#last = { ...c };
    this.#latency.reset();
    this.#latencyCount.reset();
    for (const [name, s] of Object.entries(snapshot.latencies.summary())) {
      if (!s) continue;
      this.#latencyCount.set({ name }, s.count);
      this.#latency.set({ name, quantile: "0.5" }, s.p50);
      this.#latency.set({ name, quantile: "0.9" }, s.p90);
      this.#latency.set({ name, quantile: "0.99" }, s.p99);
      this.#latency.set({ name, quantile: "1" }, s.max);
    }
  }

  #podCreateErrors: number | undefined;
}
