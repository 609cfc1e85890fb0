import { isIP } from "node:net";
import { z } from "zod";
import { durationMsSchema } from "../protocol/duration.js";
import { loadLayeredConfig } from "../protocol/layered-config.js";
import { isNodeName, parseHostPort } from "../protocol/names.js";
import { EdgecoreError } from "./errors.js";

/** A config file or flag that does not validate; the message names the field. */
export class EdgecoreConfigError extends EdgecoreError {
  override readonly name = "EdgecoreConfigError";
  override readonly code = "EF_ERR_EDGECORE_CONFIG";
}

const hostPort = z.string().refine((v) => parseHostPort(v) !== undefined, "not host:port");
const isLoopback = (host: string): boolean => host === "localhost" || host === "::1" || /^127\./.test(host);

/** edgecore's settings, from a YAML file and/or flags (flags win). Durations like "10s", "250ms". */
export const EdgecoreConfigSchema = z
  .object({
    nodeName: z.string().refine(isNodeName, "not a node name (lowercase DNS-1123 subdomain)"),
    /** cloudhub's tunnel address (KubeEdge's 10000). */
    tunnelServer: hostPort,
    /** `edgefleet` (our cloudcore's door) or `kubeedge` (a KubeEdge cloudcore). */
    cloud: z.enum(["edgefleet", "kubeedge"]).default("edgefleet"),
    /** ca.crt, node.crt and node.key, as `edgecore join` wrote them. */
    certDir: z.string().min(1).default("/etc/edgefleet/certs"),
    /** SQLite database, pod volumes: `<dataDir>/edgecore.db`, `<dataDir>/pods/<uid>`. */
    dataDir: z.string().min(1).default("/var/lib/edgefleet"),
    /** Container logs, the kubelet's /var/log/pods. */
    podLogDir: z.string().min(1).default("/var/log/pods"),
    containerdSocket: z
      .string()
      .startsWith("/", "must be an absolute path")
      .default("/run/containerd/containerd.sock"),
    /** The node's address (status.addresses InternalIP, hostIP). */
    nodeIP: z.string().refine((v) => isIP(v) !== 0, "not an IP address"),
    labels: z.record(z.string()).default({}),
    /** Pods run in the node's network namespace: for nodes without CNI. */
    hostNetworkOnly: z.boolean().default(false),
    metaServerHost: z
      .string()
      .refine(isLoopback, "the MetaServer serves this node only: a loopback address")
      .default("127.0.0.1"),
    /** KubeEdge's metaServer port; 0 picks a free one. */
    metaServerPort: z.number().int().min(0).max(65535).default(10550),
    /** MQTT broker for device twins (EventBus); absent = devices off. */
    mqttBroker: z.string().url().optional(),
    leaseDuration: durationMsSchema.default("40s"),
    leaseRenewInterval: durationMsSchema.default("10s"),
    nodeStatusInterval: durationMsSchema.default("10s"),
    podSyncInterval: durationMsSchema.default("2s"),
    heartbeatInterval: durationMsSchema.default("15s"),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info"),
  })
  .strict()
  .refine((c) => c.leaseRenewInterval < c.leaseDuration, {
    message: "must be shorter than leaseDuration",
    path: ["leaseRenewInterval"],
  });

export type EdgecoreConfig = z.output<typeof EdgecoreConfigSchema>;
export type EdgecoreConfigInput = z.input<typeof EdgecoreConfigSchema>;

/** Merges a YAML file (if any) with flags and validates the result; throws naming the field. */
export function loadEdgecoreConfig(file: string | undefined, flags: Record<string, unknown>): EdgecoreConfig {
  return loadLayeredConfig(EdgecoreConfigSchema, file, flags, {
    kind: "config",
    error: (message) => new EdgecoreConfigError(message),
  });
}
