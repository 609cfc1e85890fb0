import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { ManagedProcess } from "./managed-process.js";
import { freePorts } from "./ports.js";
import { redisPing, withRedis } from "./redis-probe.js";
import { waitFor } from "./wait.js";

/** Redis Cluster's slot count. */
export const CLUSTER_SLOTS = 16384;

export interface RedisClusterOptions {
  /** Where the servers keep their files; default a fresh temp dir, removed by stop(). */
  readonly dir?: string;
  /** Masters, each with an even share of the slots (default 3; no replicas). */
  readonly masters?: number;
}

export interface RedisClusterMaster {
  readonly port: number;
  /** Its slots, `from` to `to` inclusive. */
  readonly from: number;
  readonly to: number;
}

/** A Redis Cluster of masters on 127.0.0.1. */
export interface RedisClusterServers extends Component {
  readonly masters: readonly RedisClusterMaster[];
  /** `redis+cluster://127.0.0.1:<p1>,127.0.0.1:<p2>,…` */
  readonly url: string;
  /** The master serving `slot`. */
  masterOf(slot: number): RedisClusterMaster;
}

/**
 * Starts Debian's redis-server as cluster masters (`--cluster-enabled yes`, the cluster bus on a
 * free port of its own through `--cluster-port`, Redis 7), gives each an even range of slots
 * (CLUSTER ADDSLOTSRANGE), introduces them (CLUSTER MEET) and waits until every node reports
 * `cluster_state:ok` and knows all the others.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterServers> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "edgefleet-rcluster-"));
  const count = options.masters ?? 3;
  const redisServer = systemBinary("redis-server", "redis-server");
  const ports = await freePorts(count * 2);
  const nodes = Array.from({ length: count }, (_, i) => ({
    port: ports[i] ?? 0,
    bus: ports[count + i] ?? 0,
    from: Math.floor((CLUSTER_SLOTS * i) / count),
    to: Math.floor((CLUSTER_SLOTS * (i + 1)) / count) - 1,
  }));
  const procs: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((p) => p.stop()));
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    await Promise.all(
      nodes.map(async (node) => {
        const own = join(dir, `node-${node.port}`);
        mkdirSync(own, { recursive: true });
        const proc = new ManagedProcess({
          name: "redis-cluster-node",
          command: redisServer,
          args: [
            ...["--bind", "127.0.0.1", "--port", String(node.port), "--dir", own],
            ...["--save", "", "--appendonly", "no", "--protected-mode", "yes"],
            ...["--cluster-enabled", "yes", "--cluster-config-file", join(own, "nodes.conf")],
            ...["--cluster-port", String(node.bus), "--cluster-node-timeout", "2000"],
          ],
          logFile: join(own, "redis.log"),
          ready: () => redisPing(node.port),
          readyTimeoutMs: 15_000,
        });
        procs.push(proc);
        await proc.start();
      }),
    );
    for (const node of nodes)
      await withRedis(node.port, undefined, (c) => c.call("CLUSTER", "ADDSLOTSRANGE", node.from, node.to));
    const [first] = nodes;
    for (const node of nodes.slice(1))
      await withRedis(first?.port ?? 0, undefined, (c) =>
        c.call("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus),
      );
    await waitFor(
      async () => {
        for (const node of nodes) {
          const info = await withRedis(node.port, undefined, (c) => c.call("CLUSTER", "INFO"));
          const text = String(info);
          if (!text.includes("cluster_state:ok") || !text.includes(`cluster_known_nodes:${count}`))
            return false;
        }
        return true;
      },
      { what: "redis cluster state ok", timeoutMs: 20_000 },
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const masters = nodes.map(({ port, from, to }) => ({ port, from, to }));
  return {
    name: "redis-cluster",
    logFile: procs[0]?.spec.logFile ?? "",
    masters,
    url: `redis+cluster://${masters.map((m) => `127.0.0.1:${m.port}`).join(",")}`,
    masterOf(slot) {
      const master = masters.find((m) => slot >= m.from && slot <= m.to);
      if (!master) throw new RangeError(`slot ${slot} is outside 0-${CLUSTER_SLOTS - 1}`);
      return master;
    },
    stop,
  };
}
