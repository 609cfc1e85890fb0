/** Forks fleet client processes, one 127.0.2.x source address each, and talks to them. */
import { fork, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { next } from "../child.js";
import type { FromClient, ToClient } from "./messages.js";

const here = dirname(fileURLToPath(import.meta.url));

export type ClientStatus = Extract<FromClient, { type: "status" }>;

export interface FleetOptions {
  readonly nodes: number;
  readonly clients: number;
  readonly token: string;
  /** Certificate ports to join through (round robin over clients). */
  readonly certificatePorts: readonly number[];
  /** Balancer ports to dial (round robin over clients). */
  readonly tunnelPorts: readonly number[];
  readonly register: boolean;
  readonly prefix: string;
}

export class Fleet {
  private constructor(readonly children: readonly ChildProcess[]) {}

  /** Forks the clients and resolves once every edge has joined and connected (or failed to). */
  static async start(o: FleetOptions): Promise<{ fleet: Fleet; connected: number; elapsedMs: number }> {
    const perClient = Math.ceil(o.nodes / o.clients);
    const children: ChildProcess[] = [];
    for (let c = 0; c < o.clients; c++) {
      const child = fork(join(here, "client.ts"), [], {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      children.push(child);
      child.send({
        type: "start",
        token: o.token,
        certificatePort: o.certificatePorts[c % o.certificatePorts.length] ?? 0,
        tunnelPort: o.tunnelPorts[c % o.tunnelPorts.length] ?? 0,
        firstNode: c * perClient,
        count: Math.max(0, Math.min(perClient, o.nodes - c * perClient)),
        localAddress: `127.0.2.${c + 1}`,
        register: o.register,
        prefix: o.prefix,
      } satisfies ToClient);
    }
    const fleet = new Fleet(children);
    const t0 = Date.now();
    try {
      const connected = await Promise.all(
        children.map((c) => next<Extract<FromClient, { type: "connected" }>>(c, "connected")),
      );
      return { fleet, connected: connected.reduce((n, c) => n + c.count, 0), elapsedMs: Date.now() - t0 };
    } catch (err) {
      await fleet.stop();
      throw err;
    }
  }

  /** Every client's status, in node order. */
  async status(): Promise<ClientStatus[]> {
    const replies = Promise.all(this.children.map((c) => next<ClientStatus>(c, "status")));
    this.children.forEach((c) => c.send({ type: "status" } satisfies ToClient));
    return (await replies).sort((a, b) => a.firstNode - b.firstNode);
  }

  /** Starts counting reconnects and down times afresh. */
  async track(): Promise<void> {
    const replies = Promise.all(this.children.map((c) => next(c, "tracking")));
    this.children.forEach((c) => c.send({ type: "track" } satisfies ToClient));
    await replies;
  }

  /** Closes every edge and waits for the clients to exit. */
  async stop(): Promise<void> {
    for (const c of this.children) if (c.connected) c.send({ type: "stop" } satisfies ToClient);
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once("exit", r))),
      ),
    );
  }
}
