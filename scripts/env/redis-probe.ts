import { Redis } from "ioredis";

/**
 * One short-lived connection to one Redis server (or sentinel) on loopback, no retries: for health
 * checks and set-up commands of the environment's Redis groups. The connection is closed after `use`.
 */
export async function withRedis<T>(
  port: number,
  password: string | undefined,
  use: (client: Redis) => Promise<T>,
): Promise<T> {
  const client = new Redis({
    host: "127.0.0.1",
    port,
    ...(password !== undefined && { password }),
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2000,
  });
  client.on("error", () => {
    // Reported through the rejected connect or command below.
  });
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** PING answered with PONG. */
export function redisPing(port: number, password?: string): Promise<boolean> {
  return withRedis(port, password, async (c) => (await c.ping()) === "PONG");
}

/** `INFO <section>` as a map of its `field:value` lines. */
export async function redisInfo(
  port: number,
  password: string | undefined,
  section: string,
): Promise<Map<string, string>> {
  const text = await withRedis(port, password, (c) => c.info(section));
  return new Map(
    text
      .split("\r\n")
      .filter((line) => line.includes(":") && !line.startsWith("#"))
      .map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 1)] as const),
  );
}
