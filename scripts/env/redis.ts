import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Redis } from "ioredis";
import { systemBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { ManagedProcess } from "./managed-process.js";
import { freePort } from "./ports.js";

export interface RedisServer extends Component {
  readonly host: string;
  readonly port: number;
  /** redis://127.0.0.1:<port> */
  readonly url: string;
  /** The server's process id while it runs (tests pause it with SIGSTOP). */
  readonly pid: number | undefined;
}

async function ping(port: number): Promise<boolean> {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on("error", () => {
    // Reported through the rejected connect below.
  });
  try {
    await client.connect();
    return (await client.ping()) === "PONG";
  } finally {
    client.disconnect();
  }
}

/**
 * Starts Debian's redis-server on loopback, no persistence, data dir in `dir`. `port` restarts one
 * on the port an earlier one had (the Redis-restart tests: same address, all data gone).
 */
export async function startRedis(dir: string, port?: number): Promise<RedisServer> {
  mkdirSync(dir, { recursive: true });
  port ??= await freePort();
  const proc = new ManagedProcess({
    name: "redis",
    command: systemBinary("redis-server", "redis-server"),
    args: [
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
      "--protected-mode",
      "yes",
      "--maxclients",
      "10000",
    ],
    logFile: join(dir, "redis.log"),
    ready: () => ping(port),
    readyTimeoutMs: 15_000,
  });
  await proc.start();
  return {
    name: "redis",
    logFile: proc.spec.logFile,
    host: "127.0.0.1",
    port,
    url: `redis://127.0.0.1:${port}`,
    get pid() {
      return proc.pid;
    },
    get running() {
      return proc.running;
    },
    stop: () => proc.stop(),
  };
}
