import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { afterAll, describe, expect, it } from "vitest";
import { startRedis, type RedisServer } from "../../scripts/env/redis.js";
import { becomesTrue, redisReachable, startHealthServer } from "./health-server.js";

async function get(server: Server, path: string): Promise<{ status: number; body: string }> {
  const { port } = server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

describe("cloudcore's /readyz", () => {
  const dir = mkdtempSync(join(tmpdir(), "edgefleet-readyz-"));
  let redisServer: RedisServer | undefined;
  let client: Redis | undefined;
  let server: Server | undefined;

  afterAll(async () => {
    client?.disconnect();
    server?.close();
    await redisServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is 503 naming each failing check until caches are synced and Redis answers, then 200", async () => {
    redisServer = await startRedis(join(dir, "redis"));
    client = new Redis(redisServer.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    client.on("error", () => undefined);
    let synced: () => void = () => undefined;
    const caches = new Promise<void>((resolve) => (synced = resolve));
    server = await startHealthServer({
      registry: new Registry(),
      host: "127.0.0.1",
      port: 0,
      readiness: [becomesTrue("informers", caches, "caches not synced"), redisReachable(client, 300)],
    });
    expect(await get(server, "/healthz")).toEqual({ status: 200, body: "ok" });

    const before = await get(server, "/readyz");
    expect(before.status).toBe(503);
    expect(before.body).toContain("informers: caches not synced");
    expect(before.body).toMatch(/redis: not connected \(wait\)/);

    await client.connect();
    synced();
    expect(await get(server, "/readyz")).toEqual({ status: 200, body: "ok" });

    // A Redis that accepts nothing (paused): connected, but no answer in time.
    const pid = redisServer.pid;
    if (pid === undefined) throw new Error("redis has no pid");
    process.kill(pid, "SIGSTOP");
    const hung = await get(server, "/readyz").finally(() => process.kill(pid, "SIGCONT"));
    expect(hung).toEqual({ status: 503, body: "redis: no PONG within 300 ms\n" });
    expect((await get(server, "/readyz")).status).toBe(200);

    // Redis gone: not ready until it is back.
    await redisServer.stop();
    const gone = await get(server, "/readyz");
    expect(gone.status).toBe(503);
    expect(gone.body).toMatch(/^redis: (not connected|PING failed)/);
  }, 30_000);
});
