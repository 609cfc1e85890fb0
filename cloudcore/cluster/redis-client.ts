import type { Cluster, Redis } from "ioredis";

/**
 * The Redis client cloudcore uses: a `Redis` (one server, or the master a Sentinel group names) or a
 * `Cluster` (Redis Cluster). Both take the same commands; what differs is that a command, a MULTI or
 * a pipeline touching keys of several hash slots is refused on a Cluster (CROSSSLOT, or ioredis's
 * "All keys in the pipeline should belong to the same slots allocation group"). The helpers here
 * batch such work in a way that is valid for both.
 */
export type RedisClient = Redis | Cluster;

/** One command as its name and arguments, e.g. `["eval", script, 1, key, token]`. */
export type RedisCommand = readonly [name: string, ...args: (string | number)[]];

/** `[error, result]` per command, as ioredis's Pipeline#exec gives them. */
export type BatchResult = [error: Error | null, result: unknown];

export function isCluster(redis: RedisClient): redis is Cluster {
  return redis.isCluster;
}

/**
 * Runs commands as one batch and gives each command's outcome, in order. On one Redis: one pipeline
 * (one write, one round trip), as before Cluster support. On a Cluster: one command each, which the
 * client's auto-pipelining (`enableAutoPipelining`, set by RedisEndpoint) sends as one pipeline per
 * shard; an explicit pipeline would be refused as soon as its keys span shards. A command's error
 * (connection lost, MOVED retries exhausted) is its own: it does not fail the others.
 */
export async function runBatch(
  redis: RedisClient,
  commands: readonly RedisCommand[],
): Promise<BatchResult[]> {
  if (commands.length === 0) return [];
  if (isCluster(redis))
    return Promise.all(
      commands.map(([name, ...args]) =>
        redis.call(name, ...args).then(
          (result): BatchResult => [null, result],
          (err: unknown): BatchResult => [err instanceof Error ? err : new Error(String(err)), null],
        ),
      ),
    );
  const pipeline = redis.pipeline();
  for (const [name, ...args] of commands) pipeline.call(name, ...args);
  const results = await pipeline.exec();
  return (results ?? []) as BatchResult[];
}

/** runBatch, then throws the first command error, if any; resolves to the results. */
export async function runAll(redis: RedisClient, commands: readonly RedisCommand[]): Promise<unknown[]> {
  const results = await runBatch(redis, commands);
  const failed = results.find(([err]) => err !== null);
  if (failed?.[0]) throw failed[0];
  return results.map(([, result]) => result);
}

/**
 * GET of many keys: one MGET on one Redis; on a Cluster (where MGET across slots fails with
 * CROSSSLOT) one GET per key, auto-pipelined per shard.
 */
export async function getMany(redis: RedisClient, keys: readonly string[]): Promise<(string | null)[]> {
  if (keys.length === 0) return [];
  if (isCluster(redis)) return Promise.all(keys.map((key) => redis.get(key)));
  return redis.mget([...keys]);
}
