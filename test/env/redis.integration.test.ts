import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { ExecutionError, Redlock } from "../../cloudcore/cluster/redlock.js";
import { afterAll, describe, expect, inject, it } from "vitest";

const env = inject("env");

describe("redis", () => {
  if (!env.redis) throw new Error("environment started without redis");
  const client = new Redis(env.redis.url, { maxRetriesPerRequest: 1 });
  const prefix = `env-test:${randomBytes(3).toString("hex")}:`;

  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });

  it("set/get - stores and returns a value", async () => {
    await client.set(`${prefix}greeting`, "hello", "EX", 60);
    expect(await client.get(`${prefix}greeting`)).toBe("hello");
  });

  it("redlock - a held lock excludes a second holder until released", async () => {
    const redlock = new Redlock([client], { retryCount: 0 });
    const resource = `${prefix}lock:node-1`;
    const lock = await redlock.acquire([resource], 10_000);
    expect(await client.get(resource)).toBe(lock.value);

    await expect(redlock.acquire([resource], 10_000)).rejects.toBeInstanceOf(ExecutionError);

    await lock.release();
    expect(await client.exists(resource)).toBe(0);
    const second = await redlock.acquire([resource], 10_000);
    expect(second.value).not.toBe(lock.value);
    await second.release();
  });
});
