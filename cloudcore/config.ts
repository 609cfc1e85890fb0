import { isIP } from "node:net";
import { z } from "zod";
import { parseDurationSeconds } from "../protocol/duration.js";
import { loadLayeredConfig } from "../protocol/layered-config.js";
import { RedisEndpoint } from "./cluster/redis-endpoint.js";
import { CloudcoreError } from "./errors.js";

/** A config file or flag that does not validate; the message names the field. */
export class ConfigError extends CloudcoreError {
  override readonly name = "ConfigError";
  override readonly code = "EF_ERR_CONFIG";
}

const port = z.number().int().min(0).max(65535);
const duration = z.union([z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value === "number") return value * 1000;
  if (value === "0" || value === "never") return 0;
  try {
    return parseDurationSeconds(value) * 1000;
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    return z.NEVER;
  }
});

/** cloudcore's settings, from a YAML file and/or flags (flags win). Durations like "40s", "24h". */
export const CloudcoreConfigSchema = z
  .object({
    kubeconfig: z.string().min(1).optional(),
    namespace: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "not a namespace name")
      .default("kubeedge"),
    advertiseAddresses: z
      .array(z.string().refine((a) => isIP(a) !== 0, "not an IP address"))
      .min(1, "at least one address edges dial is needed")
      .default(["127.0.0.1"]),
    dnsNames: z.array(z.string().min(1)).default([]),
    host: z.string().default("0.0.0.0"),
    tunnelPort: port.default(10000),
    /** The door for KubeEdge edgecores; 0 turns it off. */
    kubeedgePort: port.default(10010),
    certificatePort: port.default(10002),
    /** /metrics, /healthz, /readyz; 0 turns it off. */
    metricsPort: port.default(9091),
    /**
     * Listen address of /metrics, /healthz, /readyz when it differs from `host` (e.g. loopback
     * while the tunnel and stream ports listen on an address the apiserver's DNAT reaches).
     */
    metricsHost: z
      .string()
      .refine((a) => isIP(a) !== 0, "not an IP address")
      .optional(),
    /** CloudStream (kubectl logs/exec/port-forward), the DNAT target; 0 turns it off. */
    streamPort: port.default(10003),
    /** CA bundle of the apiserver's kubelet client certificate (default: the kubeconfig's cluster CA). */
    streamClientCaFile: z.string().min(1).optional(),
    /**
     * redis://host:port[/db], rediss://… (TLS), redis+sentinel://host:port[,…]/<master>[/db],
     * redis+cluster://host:port[,…] (see cluster/redis-endpoint.ts for the full forms).
     */
    redisUrl: z
      .string()
      .superRefine((url, ctx) => {
        const problem = RedisEndpoint.problemOf(url);
        if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
      })
      .optional(),
    /** PEM CA bundle the Redis servers' certificates are checked against (TLS URLs only). */
    redisTlsCaFile: z.string().min(1).optional(),
    /** File holding the Redis password (a mounted Secret), instead of one in redisUrl. */
    redisPasswordFile: z.string().min(1).optional(),
    /** File holding the sentinels' own password (sentinel URLs only). */
    redisSentinelPasswordFile: z.string().min(1).optional(),
    offlineGrace: duration.default("40s"),
    maxAutonomy: duration.default("0"),
    leaseRenewInterval: duration.default("10s"),
    deviceProtocols: z
      .array(z.string().regex(/^[A-Za-z0-9_.-]+$/, "not a protocol name"))
      .min(1)
      .optional(),
    /**
     * Install and update the device CRDs (false: they are installed by someone else, e.g. the Helm
     * chart, and cloudcore only waits for them to be Established; its account needs no CRD writes).
     */
    manageCrds: z.boolean().default(true),
    /** Port of the Device validating webhook; 0 = not served. */
    deviceWebhookPort: port.default(10005),
    /** URL the apiserver calls for it (default https://<first advertise address>:<port>/validate/devices). */
    deviceWebhookUrl: z.string().url().optional(),
    /** Run as a replica of a cloudcore cluster with this id (needs redisUrl). */
    replicaId: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "not a DNS label")
      .max(63)
      .optional(),
    /** Address other components reach this replica at (default: first advertise address). */
    replicaAddress: z.string().optional(),
    /** New tunnels admitted per second (0 = unlimited) and the burst allowed. */
    admissionRate: z.number().nonnegative().default(500),
    admissionBurst: z.number().int().positive().default(1000),
    /** Extra label selector for the edge Nodes this cluster serves. */
    edgeNodeSelector: z.string().min(1).optional(),
    rebalanceInterval: duration.default("5s"),
    /** Tunnels an overloaded replica closes per round: how gradual the shedding is. */
    rebalanceMaxPerRound: z.number().int().positive().default(50),
    /** A replica silent this long is dead and its nodes are taken over (default 6s). */
    livenessTtl: duration.default("6s"),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  })
  .strict()
  .refine((c) => c.replicaId === undefined || c.redisUrl !== undefined, {
    message: "a replica (replicaId) needs redisUrl",
    path: ["redisUrl"],
  })
  .refine((c) => c.redisTlsCaFile === undefined || /^rediss(\+|:)/i.test(c.redisUrl ?? ""), {
    message: "a CA file is for a TLS redisUrl (rediss://, rediss+sentinel://, rediss+cluster://)",
    path: ["redisTlsCaFile"],
  })
  .refine((c) => c.redisPasswordFile === undefined || c.redisUrl !== undefined, {
    message: "a password file is for a redisUrl",
    path: ["redisPasswordFile"],
  })
  .refine((c) => c.redisSentinelPasswordFile === undefined || /^rediss?\+sentinel:/i.test(c.redisUrl ?? ""), {
    message: "a sentinel password file is for a sentinel redisUrl (redis+sentinel://, rediss+sentinel://)",
    path: ["redisSentinelPasswordFile"],
  });

export type CloudcoreConfig = z.output<typeof CloudcoreConfigSchema>;

/** Merges a YAML file (if any) with flags and validates the result; throws ConfigError naming the field. */
export function loadCloudcoreConfig(
  file: string | undefined,
  flags: Record<string, unknown>,
): CloudcoreConfig {
  return loadLayeredConfig(CloudcoreConfigSchema, file, flags, {
    kind: "config",
    error: (message) => new ConfigError(message),
  });
}
