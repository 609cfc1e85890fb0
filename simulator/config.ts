/**
 * `edgefleet-sim run` settings: a YAML scenario file and/or flags (flags win), validated in one
 * place; a bad value is reported with its field and nothing starts.
 */
import { isIPv4 } from "node:net";
import { z } from "zod";
import { parseDurationMs } from "../protocol/duration.js";
import { loadLayeredConfig } from "../protocol/layered-config.js";
import { parseHostPort } from "../protocol/names.js";
import { KUBEEDGE_BEHAVIOUR, type NodeBehaviour } from "./engine/node-behaviour.js";
import type { ScenarioPhase } from "./run/simulation-run.js";

export class SimulatorConfigError extends Error {
  override readonly name = "SimulatorConfigError";
}

/** "90s", "2m", "500ms" (or a number of seconds) → milliseconds; scenarios of edgefleet-load use it too. */
export const durationMs = z.union([z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value === "number") return value * 1000;
  try {
    return parseDurationMs(value);
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    return z.NEVER;
  }
});

const hostPort = z.string().refine((v) => parseHostPort(v) !== undefined, "not host:port");

/** "2000/s", "120/m" or a bare number per second. */
const rate = z.union([z.string(), z.number()]).transform((value, ctx) => {
  if (typeof value === "number" && value > 0) return value;
  const match = /^(\d+(?:\.\d+)?)\s*(?:\/\s*(s|m))?$/.exec(String(value).trim());
  const n = Number(match?.[1]);
  if (!match || !(n > 0)) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `rate ${JSON.stringify(value)} is not like 2000/s or 120/m`,
    });
    return z.NEVER;
  }
  return match[2] === "m" ? n / 60 : n;
});

/** "1s-3s" (uniform) or "2s" (fixed). */
const delayRange = z.string().transform((value, ctx) => {
  const [a, b] = value.split("-").map((part) => part.trim());
  try {
    const min = parseDurationMs(a ?? "");
    const max = b === undefined ? min : parseDurationMs(b);
    if (max < min) throw new Error(`range ${JSON.stringify(value)} ends before it starts`);
    return { min, max };
  } catch (err) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (err as Error).message });
    return z.NEVER;
  }
});

const fraction = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const text = String(value).trim();
  const n = text.endsWith("%") ? Number(text.slice(0, -1)) / 100 : Number(text);
  if (!(n > 0 && n <= 1)) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `${JSON.stringify(value)} is not a fraction in (0, 1] or a percentage`,
    });
    return z.NEVER;
  }
  return n;
});

const shard = z.string().transform((value, ctx) => {
  const match = /^(\d+)\/(\d+)$/.exec(value.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) {
    ctx.addIssue({
      code: z.ZodIssueCode.custom,
      message: `shard ${JSON.stringify(value)} is not i/n with 0 ≤ i < n`,
    });
    return z.NEVER;
  }
  return { index, count };
});

const phase = z.union([
  z.object({ steady: durationMs }).strict(),
  z.object({ chaos: z.object({ fraction, down: durationMs }).strict() }).strict(),
  z.object({ churn: z.object({ fraction }).strict() }).strict(),
]);

/** Every `edgefleet-sim run` setting (the load runner embeds a part of it in its scenarios). */
export const SimulatorSettingsSchema = z
  .object({
    /** The tunnel endpoint: the balancer in front of cloudcore (or one cloudcore). */
    cloudcore: hostPort,
    /** The certificate server (default: the cloudcore host, port 10002). */
    certificateServer: hostPort.optional(),
    token: z.string().min(1, "a join token is needed (cloudcore token create)"),
    kubeconfig: z.string().min(1).optional(),
    /** Nodes in all shards together. */
    nodes: z.number().int().min(1).max(1_000_000).default(1000),
    podsPerNode: z.number().int().min(0).max(110).default(0),
    podMode: z.enum(["bound", "deployment"]).default("bound"),
    podQps: rate.default(100),
    ramp: rate.default("500/s"),
    /** Steady phase length, when `phases` is not given. */
    duration: durationMs.default("0"),
    phases: z.array(phase).optional(),
    workers: z.union([z.literal("auto"), z.number().int().min(1).max(256)]).default("auto"),
    shard: shard.default("0/1"),
    prefix: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "not a DNS label")
      .max(40)
      .default("sim"),
    namespace: z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "not a namespace name")
      .default("edgefleet-sim"),
    sourceAddress: z
      .string()
      .refine((a) => isIPv4(a) && a.startsWith("127."), "not a 127.x.y.z address")
      .default("127.64.0.1"),
    nodesPerSourceAddress: z.number().int().min(1).max(28_000).default(10_000),
    leaseInterval: durationMs.default("10s"),
    leaseDuration: z.number().int().min(10).max(3600).default(40),
    statusReportInterval: durationMs.default("5m"),
    podStartup: delayRange.default("1s-3s"),
    podStop: durationMs.default("500ms"),
    rttInterval: durationMs.default("30s"),
    keepalive: durationMs.default("15s"),
    certCache: z.string().min(1).optional(),
    report: z.string().min(1).default("reports/sim-report.json"),
    /** /metrics, /healthz and POST /chaos on 127.0.0.1; 0 = off. */
    metricsPort: z.number().int().min(0).max(65535).default(0),
    phaseTimeout: durationMs.default("10m"),
    cleanup: z.boolean().default(false),
    cloud: z.enum(["edgefleet", "kubeedge"]).default("edgefleet"),
  })
  .strict();

export const SimulatorRunConfigSchema = SimulatorSettingsSchema.refine(
  (c) => c.podsPerNode === 0 || c.kubeconfig !== undefined,
  {
    message: "pods need the apiserver: give kubeconfig",
    path: ["kubeconfig"],
  },
);

export type SimulatorRunConfig = z.output<typeof SimulatorRunConfigSchema>;

/** Reads the scenario file (if any), lays the flags over it and validates the whole. */
export function loadRunConfig(file: string | undefined, flags: Record<string, unknown>): SimulatorRunConfig {
  return loadLayeredConfig(SimulatorRunConfigSchema, file, flags, {
    kind: "scenario",
    error: (message) => new SimulatorConfigError(message),
  });
}

export function behaviourOf(c: SimulatorRunConfig): NodeBehaviour {
  return {
    ...KUBEEDGE_BEHAVIOUR,
    leaseIntervalMs: c.leaseInterval,
    leaseDurationSeconds: c.leaseDuration,
    statusReportIntervalMs: c.statusReportInterval,
    podStartupMs: c.podStartup,
    podStopMs: c.podStop,
    rttIntervalMs: c.rttInterval,
    keepaliveIntervalMs: c.keepalive,
  };
}

export function phasesOf(c: SimulatorRunConfig): ScenarioPhase[] {
  if (!c.phases) return c.duration > 0 ? [{ type: "steady", durationMs: c.duration }] : [];
  return c.phases.map((p): ScenarioPhase => {
    if ("steady" in p) return { type: "steady", durationMs: p.steady };
    if ("chaos" in p) return { type: "chaos", fraction: p.chaos.fraction, downMs: p.chaos.down };
    return { type: "churn", fraction: p.churn.fraction };
  });
}

/** This shard's nodes: `[firstIndex, firstIndex + count)` of the `nodes` in all shards. */
export function shardRange(c: SimulatorRunConfig): { firstIndex: number; count: number } {
  const per = Math.ceil(c.nodes / c.shard.count);
  const firstIndex = c.shard.index * per;
  return { firstIndex, count: Math.max(0, Math.min(per, c.nodes - firstIndex)) };
}

/** The certificate server: given, or the cloudcore host at KubeEdge's port 10002. */
export function certificateServerOf(c: SimulatorRunConfig): string {
  if (c.certificateServer) return c.certificateServer;
  const { host } = parseHostPort(c.cloudcore) ?? { host: "127.0.0.1" };
  return `${host.includes(":") ? `[${host}]` : host}:10002`;
}
