import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { systemBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { ManagedProcess } from "./managed-process.js";
import { freePorts } from "./ports.js";
import { redisInfo, redisPing, withRedis } from "./redis-probe.js";
import { waitFor } from "./wait.js";

export interface RedisSentinelOptions {
  /** Where the servers keep their files; default a fresh temp dir, removed by stop(). */
  readonly dir?: string;
  readonly masterName?: string;
  /** requirepass of the master and the replica (and masterauth, auth-pass for the sentinels). */
  readonly password?: string;
  /** requirepass of the sentinels themselves. */
  readonly sentinelPassword?: string;
  /** How long the master must be unreachable before a sentinel thinks it down (default 1 s). */
  readonly downAfterMs?: number;
}

/** A Sentinel-managed Redis: a master, one replica and three sentinels (quorum 2), on 127.0.0.1. */
export interface RedisSentinelGroup extends Component {
  readonly masterName: string;
  readonly password: string | undefined;
  readonly sentinelPassword: string | undefined;
  readonly sentinelPorts: readonly number[];
  /** Ports of the data servers: the first master and its replica. */
  readonly dataPorts: readonly number[];
  /** `redis+sentinel://[:password@]127.0.0.1:<s1>,…/<masterName>[?sentinelPassword=…]` */
  readonly url: string;
  /** The master's port as the sentinels report it. */
  masterPort(): Promise<number>;
  /** SIGKILL of the current master's server; resolves to its port. */
  killMaster(): Promise<number>;
  /** Until the sentinels report another master than `oldPort`, which answers as a master. */
  waitForFailover(oldPort: number, timeoutMs?: number): Promise<number>;
}

const DATA_ARGS = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"];

/**
 * Starts Debian's redis-server as master and replica, and as three sentinels (`redis-server <conf>
 * --sentinel`), on free loopback ports; waits until the replica is in sync and every sentinel
 * knows the replica and the two other sentinels (so that a failover can be agreed on).
 */
export async function startRedisSentinel(options: RedisSentinelOptions = {}): Promise<RedisSentinelGroup> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "edgefleet-sentinel-"));
  const masterName = options.masterName ?? "edgefleet";
  const { password, sentinelPassword } = options;
  const redisServer = systemBinary("redis-server", "redis-server");
  const [masterPort = 0, replicaPort = 0, ...sentinelPorts] = await freePorts(5);
  const data = new Map<number, ManagedProcess>();
  const sentinels: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all([...sentinels, ...data.values()].map((p) => p.stop()));
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    for (const [port, role] of [
      [masterPort, "master"],
      [replicaPort, "replica"],
    ] as const) {
      const own = join(dir, `${role}-${port}`);
      mkdirSync(own, { recursive: true });
      const proc = new ManagedProcess({
        name: `redis-${role}`,
        command: redisServer,
        args: [
          ...DATA_ARGS,
          ...["--port", String(port), "--dir", own],
          // Full syncs at once (7.0 waits 5 s for more replicas by default).
          ...["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"],
          ...(password !== undefined ? ["--requirepass", password, "--masterauth", password] : []),
          ...(role === "replica" ? ["--replicaof", "127.0.0.1", String(masterPort)] : []),
        ],
        logFile: join(own, "redis.log"),
        ready: () => redisPing(port, password),
        readyTimeoutMs: 15_000,
      });
      await proc.start();
      data.set(port, proc);
    }
    await waitFor(
      async () => (await redisInfo(replicaPort, password, "replication")).get("master_link_status") === "up",
      { what: "redis replica in sync", timeoutMs: 15_000 },
    );

    for (const port of sentinelPorts) {
      const own = join(dir, `sentinel-${port}`);
      mkdirSync(own, { recursive: true });
      const conf = join(own, "sentinel.conf");
      writeFileSync(
        conf,
        [
          `port ${port}`,
          "bind 127.0.0.1",
          `dir ${own}`,
          "sentinel resolve-hostnames no",
          `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} 2`,
          `sentinel down-after-milliseconds ${masterName} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${masterName} 4000`,
          `sentinel parallel-syncs ${masterName} 1`,
          ...(password !== undefined ? [`sentinel auth-pass ${masterName} ${password}`] : []),
          ...(sentinelPassword !== undefined
            ? [`requirepass ${sentinelPassword}`, `sentinel sentinel-pass ${sentinelPassword}`]
            : []),
          "",
        ].join("\n"),
      );
      const proc = new ManagedProcess({
        name: "redis-sentinel",
        command: redisServer,
        args: [conf, "--sentinel"],
        logFile: join(own, "sentinel.log"),
        ready: () => redisPing(port, sentinelPassword),
        readyTimeoutMs: 15_000,
      });
      await proc.start();
      sentinels.push(proc);
    }
    // Sentinels find each other through hello messages on the master (every 2 s).
    await waitFor(
      async () => {
        for (const port of sentinelPorts) {
          const state = await withRedis(port, sentinelPassword, (c) =>
            c.call("SENTINEL", "MASTER", masterName),
          );
          const fields = fieldsOf(state);
          if (fields.get("num-other-sentinels") !== "2" || fields.get("num-slaves") !== "1") return false;
        }
        return true;
      },
      { what: "redis sentinels discovering each other", timeoutMs: 20_000 },
    );
  } catch (err) {
    await stop();
    throw err;
  }

  const masterPortNow = async (): Promise<number> => {
    let lastError: unknown;
    for (const port of sentinelPorts) {
      try {
        const addr = await withRedis(port, sentinelPassword, (c) =>
          c.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", masterName),
        );
        if (Array.isArray(addr) && addr.length === 2) return Number(addr[1]);
      } catch (err) {
        lastError = err;
      }
    }
    throw new Error(`no sentinel names a master for ${masterName}`, { cause: lastError });
  };
  const encodedPassword = password === undefined ? "" : `:${encodeURIComponent(password)}@`;
  const query =
    sentinelPassword === undefined ? "" : `?sentinelPassword=${encodeURIComponent(sentinelPassword)}`;
  return {
    name: "redis-sentinel",
    logFile: sentinels[0]?.spec.logFile ?? "",
    masterName,
    password,
    sentinelPassword,
    sentinelPorts,
    dataPorts: [masterPort, replicaPort],
    url: `redis+sentinel://${encodedPassword}${sentinelPorts.map((p) => `127.0.0.1:${p}`).join(",")}/${masterName}${query}`,
    masterPort: masterPortNow,
    async killMaster() {
      const port = await masterPortNow();
      await data.get(port)?.kill();
      return port;
    },
    async waitForFailover(oldPort, timeoutMs = 30_000) {
      let promoted = 0;
      await waitFor(
        async () => {
          const port = await masterPortNow();
          if (port === oldPort) return false;
          promoted = port;
          return (await redisInfo(port, password, "replication")).get("role") === "master";
        },
        { what: `sentinel failover away from 127.0.0.1:${oldPort}`, timeoutMs, intervalMs: 100 },
      );
      return promoted;
    },
    stop,
  };
}

/** A flat `[field, value, field, value, …]` reply as a map. */
function fieldsOf(reply: unknown): Map<string, string> {
  const out = new Map<string, string>();
  if (!Array.isArray(reply)) return out;
  for (let i = 0; i + 1 < reply.length; i += 2) out.set(String(reply[i]), String(reply[i + 1]));
  return out;
}
