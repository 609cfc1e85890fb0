/**
 * A load scenario (`loadtest/scenarios/<name>.yaml`): the cluster to bring up, the simulator run
 * (the keys of an `edgefleet-sim run` scenario: nodes, pods, ramp, phases…), HTTP load on
 * cloudcore's endpoints during named phases, and the regression thresholds `compare` applies.
 * Validated as a whole; a bad value names its file and field and nothing starts.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { durationMs, SimulatorSettingsSchema } from "../simulator/config.js";

export class ScenarioError extends Error {
  override readonly name = "ScenarioError";
  readonly code = "EF_ERR_SCENARIO";
}

const name = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "not a lower-case name (a-z, 0-9, -)")
  .max(63);

/**
 * Where HTTP load goes: `certificates` is the join server (HTTPS) through the balancer, as edges
 * reach it; `health` is one replica's /metrics, /healthz and /readyz port (not balanced in a
 * cluster: Prometheus and the kubelet call each replica).
 */
export const HTTP_TARGETS = ["certificates", "health"] as const;
export type HttpTarget = (typeof HTTP_TARGETS)[number];

const HttpLoadSchema = z
  .object({
    name,
    target: z.enum(HTTP_TARGETS),
    path: z.string().regex(/^\/[^\s?#]*$/, "not a path starting with /"),
    /** The simulator phase it runs in: ramp, pods, steady, chaos, churn, steady-2… */
    phase: name,
    connections: z.number().int().min(1).max(1000).default(10),
    /** Requests in flight per connection. */
    pipelining: z.number().int().min(1).max(16).default(1),
    duration: durationMs.refine((ms) => ms >= 1000 && ms <= 3_600_000, "not between 1s and 1h"),
    /** Requests per second over all connections; unlimited when absent. */
    rate: z.number().positive().optional(),
  })
  .strict();
export type HttpLoad = z.output<typeof HttpLoadSchema>;

/** Limits `compare` applies (candidate / baseline): above for latency and memory, below for throughput. */
export const ThresholdsSchema = z
  .object({
    latency: z.number().gt(1).default(1.2),
    throughput: z.number().gt(0).lt(1).default(0.8),
    memory: z.number().gt(1).default(1.2),
    /** Errors the candidate may have beyond the baseline's. */
    errors: z.number().int().min(0).default(0),
  })
  .strict();
export type Thresholds = z.output<typeof ThresholdsSchema>;

/** The simulator part: `edgefleet-sim run` keys, without the ones the runner fills in itself. */
const SimulatorPartSchema = SimulatorSettingsSchema.omit({
  cloudcore: true,
  certificateServer: true,
  token: true,
  kubeconfig: true,
  report: true,
  metricsPort: true,
  shard: true,
  certCache: true,
});

export const ScenarioSchema = z
  .object({
    name,
    description: z.string().min(1),
    cluster: z
      .object({
        replicas: z.number().int().min(1).max(5).default(2),
        scrapeInterval: durationMs
          .refine((ms) => ms >= 200 && ms <= 60_000, "not between 200ms and 60s")
          .default("1s"),
      })
      .strict()
      .default({}),
    simulator: SimulatorPartSchema,
    http: z.array(HttpLoadSchema).default([]),
    thresholds: ThresholdsSchema.default({}),
  })
  .strict()
  .superRefine((s, ctx) => {
    const names = new Set<string>();
    for (const [i, load] of s.http.entries()) {
      if (names.has(load.name))
        ctx.addIssue({
          code: z.ZodIssueCode.custom,
          path: ["http", i, "name"],
          message: `${load.name} is used twice`,
        });
      names.add(load.name);
    }
  });
export type Scenario = z.output<typeof ScenarioSchema>;

const here = dirname(fileURLToPath(import.meta.url));

/** The scenarios shipped with the project (`loadtest/scenarios`, beside the sources or the build). */
export function scenarioDir(): string {
  for (const dir of [join(here, "scenarios"), join(here, "..", "..", "loadtest", "scenarios")])
    if (existsSync(dir)) return dir;
  return join(here, "scenarios");
}

export function listScenarios(): string[] {
  if (!existsSync(scenarioDir())) return [];
  return readdirSync(scenarioDir())
    .filter((f) => f.endsWith(".yaml"))
    .map((f) => basename(f, ".yaml"))
    .sort();
}

/** Overrides from the command line, laid over the file's simulator part. */
export interface ScenarioOverrides {
  readonly nodes?: number | undefined;
  readonly podsPerNode?: number | undefined;
  readonly replicas?: number | undefined;
}

/**
 * Loads a scenario by name (a file in scenarioDir()) or by path (anything with a "/" or ending in
 * .yaml), applies the overrides and validates the whole.
 */
export function loadScenario(nameOrPath: string, overrides: ScenarioOverrides = {}): Scenario {
  const isPath = nameOrPath.includes("/") || nameOrPath.endsWith(".yaml") || nameOrPath.endsWith(".yml");
  const file = isPath ? nameOrPath : join(scenarioDir(), `${nameOrPath}.yaml`);
  if (!existsSync(file))
    throw new ScenarioError(
      isPath
        ? `scenario file ${file} does not exist`
        : `no scenario named ${nameOrPath}; known: ${listScenarios().join(", ")}`,
    );
  let parsed: unknown;
  try {
    parsed = parseYaml(readFileSync(file, "utf8"));
  } catch (err) {
    throw new ScenarioError(`scenario ${file}: ${(err as Error).message}`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
    throw new ScenarioError(`scenario ${file}: expected a mapping at the top level`);
  const raw = parsed as Record<string, unknown>;
  const simulator = { ...((raw["simulator"] as Record<string, unknown> | undefined) ?? {}) };
  if (overrides.nodes !== undefined) simulator["nodes"] = overrides.nodes;
  if (overrides.podsPerNode !== undefined) simulator["podsPerNode"] = overrides.podsPerNode;
  const cluster = { ...((raw["cluster"] as Record<string, unknown> | undefined) ?? {}) };
  if (overrides.replicas !== undefined) cluster["replicas"] = overrides.replicas;
  const result = ScenarioSchema.safeParse({ ...raw, simulator, cluster });
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ScenarioError(
      `scenario ${file}: field ${issue?.path.join(".") || "(scenario)"}: ${issue?.message ?? "invalid"}`,
    );
  }
  return result.data;
}
