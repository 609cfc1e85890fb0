import { existsSync } from "node:fs";
import { join } from "node:path";
import { Command, InvalidArgumentError } from "commander";
import { pino } from "pino";
import { parseDurationSeconds } from "../../protocol/duration.js";
import { ClusterKeys } from "../cluster/keys.js";
import { RedisEndpoint } from "../cluster/redis-endpoint.js";
import { replicaObserver } from "../cluster/replica-registry.js";
import { commandRunner, IptablesError, IptablesManager } from "../iptables/iptables-manager.js";
import { DEFAULT_TUNNEL_CHAIN, tunnelTargetsOf } from "../iptables/tunnel-rules.js";

/** Where `ip netns add` puts the namespaces `ip netns exec` enters. */
const NETNS_RUN_DIR = "/run/netns";

const seconds = (value: string): number => {
  try {
    return parseDurationSeconds(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
};

/**
 * A network namespace as `ip netns` names it: a file under /run/netns, so no slash and not `.` or
 * `..`; and no leading `-`, which `ip` would read as an option.
 */
const netnsName = (value: string): string => {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/.test(value))
    throw new InvalidArgumentError(
      `${JSON.stringify(value)} is not a network namespace name (letters, digits, "_", "." and "-", at most 64)`,
    );
  return value;
};

/** `cloudcore iptables-manager`: DNAT of tunnel ports to the live replicas, beside the apiserver. */
export function iptablesManagerCommand(): Command {
  return new Command("iptables-manager")
    .description(
      "keep NAT rules tunnel port -> replica stream listener for the live replicas (run beside the apiserver, host network)",
    )
    .requiredOption(
      "--redis-url <url>",
      "the cloudcore cluster's Redis (same forms as cloudcore run: redis://, rediss://, redis+sentinel://, redis+cluster://)",
    )
    .option("--redis-tls-ca-file <file>", "CA bundle for a TLS Redis URL (default: the system's roots)")
    .option("--redis-password-file <file>", "file holding the Redis password (instead of one in the URL)")
    .option(
      "--redis-sentinel-password-file <file>",
      "file holding the sentinels' own password (sentinel URLs)",
    )
    .option("--chain <name>", "NAT chain to own", DEFAULT_TUNNEL_CHAIN)
    .option(
      "--netns <name>",
      "program the NAT table of this network namespace (ip netns exec), for an apiserver in one; the manager and its Redis connection stay in the host's",
      netnsName,
    )
    .option("--interval <duration>", "how often the rules are reconciled", seconds, 10)
    .option("--remove", "remove the chain and its jumps, then exit", false)
    .option("--log-level <level>", "log level", "info")
    .action(
      async (flags: {
        redisUrl: string;
        redisTlsCaFile?: string;
        redisPasswordFile?: string;
        redisSentinelPasswordFile?: string;
        chain: string;
        netns?: string;
        interval: number;
        remove: boolean;
        logLevel: string;
      }) => {
        const log = pino({ level: flags.logLevel });
        // A namespace that does not exist would only show as a warning on every pass.
        if (flags.netns !== undefined && !existsSync(join(NETNS_RUN_DIR, flags.netns)))
          throw new IptablesError(
            `network namespace ${flags.netns} does not exist (no ${NETNS_RUN_DIR}/${flags.netns})`,
          );
        // A bad URL throws RedisEndpointError, whose message names the problem and never the
        // password (commander's own argument errors would echo the value).
        const endpoint = RedisEndpoint.parse(flags.redisUrl, {
          tlsCaFile: flags.redisTlsCaFile,
          passwordFile: flags.redisPasswordFile,
          sentinelPasswordFile: flags.redisSentinelPasswordFile,
        });
        const redis = endpoint.client();
        redis.on("error", (err: Error) => log.warn({ err: err.message }, "redis connection error"));
        log.info({ redis: endpoint.redacted(), mode: endpoint.mode }, "using Redis");
        const registry = replicaObserver(redis, new ClusterKeys(), log);
        const manager = new IptablesManager({
          chain: flags.chain,
          intervalMs: flags.interval * 1000,
          targets: async () => tunnelTargetsOf(await registry.list()),
          ...(flags.netns !== undefined && { run: commandRunner(["ip", "netns", "exec", flags.netns]) }),
          log,
        });
        if (flags.remove) {
          await manager.remove();
          redis.disconnect();
          return;
        }
        await manager.sync().catch(() => undefined);
        manager.start();
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
        });
        await manager.stop();
        redis.disconnect();
      },
    );
}
