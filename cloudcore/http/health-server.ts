import { createServer, type Server } from "node:http";
import type { Counter, Registry } from "prom-client";

/** One condition of readiness: undefined when met, else why not (shown by /readyz). */
export interface ReadinessCheck {
  readonly name: string;
  check(): Promise<string | undefined>;
}

/** What /readyz asks of a Redis client (ioredis Redis and Cluster both have it). */
export interface PingableRedis {
  readonly status: string;
  ping(): Promise<string>;
}

/**
 * Redis answers a PING within `timeoutMs`. ioredis queues commands while it reconnects, so a
 * replica cut off from Redis would otherwise look ready until the queue overflowed: not "ready"
 * status fails at once, and a hung server fails by the timeout.
 */
export function redisReachable(redis: PingableRedis, timeoutMs = 1000): ReadinessCheck {
  return {
    name: "redis",
    async check() {
      if (redis.status !== "ready") return `not connected (${redis.status})`;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`no PONG within ${timeoutMs} ms`), timeoutMs);
      });
      try {
        return await Promise.race([
          redis.ping().then(
            () => undefined,
            (err: unknown) => `PING failed: ${(err as Error).message}`,
          ),
          timeout,
        ]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** A condition that becomes true once and stays so (caches synced). */
export function becomesTrue(name: string, done: Promise<unknown>, pending: string): ReadinessCheck {
  let met = false;
  let failure: string | undefined;
  done.then(
    () => (met = true),
    (err: unknown) => (failure = `failed: ${(err as Error).message}`),
  );
  return {
    name,
    check: () => Promise.resolve(met ? undefined : (failure ?? pending)),
  };
}

const HEALTH_ROUTES: ReadonlySet<string> = new Set(["/metrics", "/healthz", "/readyz"]);

/**
 * cloudcore's HTTP endpoint for operators and probes: `/metrics` (Prometheus), `/healthz` (the
 * process answers) and `/readyz` (every readiness check passes: 200 "ok", else 503 with one line
 * per failing check, as the apiserver's own /readyz does).
 */
export async function startHealthServer(options: {
  readonly registry: Registry;
  /** Counts each answered request (edgefleet_http_requests_total, server "health"). */
  readonly requests?: Counter<"server" | "path" | "code">;
  readonly host: string;
  readonly port: number;
  readonly readiness: readonly ReadinessCheck[];
}): Promise<Server> {
  const { registry, readiness } = options;
  const server = createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0] ?? "";
    res.once("finish", () =>
      options.requests?.inc({
        server: "health",
        path: HEALTH_ROUTES.has(path) ? path : "other",
        code: String(res.statusCode),
      }),
    );
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { "content-type": registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          res.writeHead(500);
          res.end(String(err));
        },
      );
    } else if (path === "/healthz") {
      res.end("ok");
    } else if (path === "/readyz") {
      void Promise.all(readiness.map(async (c) => [c.name, await c.check()] as const)).then((results) => {
        const failing = results.filter(([, why]) => why !== undefined);
        res.writeHead(failing.length === 0 ? 200 : 503, { "content-type": "text/plain" });
        res.end(
          failing.length === 0 ? "ok" : failing.map(([name, why]) => `${name}: ${why}`).join("\n") + "\n",
        );
      });
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return server;
}
