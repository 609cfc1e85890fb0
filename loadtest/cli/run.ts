/** `edgefleet-load run <scenario>` and `edgefleet-load scenarios`. */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { resolve } from "node:path";
import { Command } from "commander";
import { destination, pino } from "pino";
import { z } from "zod";
import { createProgress } from "../../simulator/run/progress.js";
import { listScenarios, loadScenario } from "../scenario.js";

const Flags = z
  .object({
    out: z.string().min(1),
    nodes: z.coerce.number().int().min(1).max(1_000_000).optional(),
    podsPerNode: z.coerce.number().int().min(0).max(110).optional(),
    replicas: z.coerce.number().int().min(1).max(5).optional(),
    keep: z.boolean().default(false),
    logLevel: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("warn"),
  })
  .strict();

export function runCommand(): Command {
  return new Command("run")
    .description(
      "bring up a local HA edgefleet with Prometheus, run a scenario (simulated fleet + HTTP load) and write its report",
    )
    .argument("<scenario>", `a scenario name (${listScenarios().join(", ")}) or a YAML file`)
    .option("--out <dir>", "report directory (report.json, report.md, charts/)", "reports/load")
    .option("--nodes <n>", "override the scenario's node count")
    .option("--pods-per-node <n>", "override the scenario's pods per node")
    .option("--replicas <n>", "override the scenario's cloudcore replicas")
    .option("--keep", "keep the environment's data and logs (printed at the end)")
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace", "warn")
    .action(async (name: string, raw: Record<string, unknown>) => {
      const parsed = Flags.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new Error(`--${String(issue?.path[0] ?? "?")}: ${issue?.message ?? "invalid"}`);
      }
      const flags = parsed.data;
      const scenario = loadScenario(name, {
        nodes: flags.nodes,
        podsPerNode: flags.podsPerNode,
        replicas: flags.replicas,
      });
      const out = resolve(flags.out);
      mkdirSync(out, { recursive: true });
      const stateDir = mkdtempSync(`${tmpdir()}/edgefleet-load-`);
      const log = pino({ level: flags.logLevel }, destination(2));
      const progress = createProgress();
      const abort = new AbortController();
      const onSignal = (): void => {
        process.stderr.write("\nstopping: ending the current phase, then writing the report\n");
        abort.abort();
      };
      process.once("SIGINT", onSignal);
      process.once("SIGTERM", onSignal);
      // Loaded here, not at the top: the runner pulls in the simulator and the environment, which
      // `edgefleet-load compare` (a quick CI step) should not wait for.
      const { runLoadScenario } = await import("../run/load-run.js");
      const { writeLoadReport } = await import("../report/write-report.js");
      const t0 = Date.now();
      process.stderr.write(
        `edgefleet-load: ${scenario.name}: ${scenario.cluster.replicas} cloudcore replicas, ${scenario.simulator.nodes} nodes × ${scenario.simulator.podsPerNode} pods, ${scenario.http.length} HTTP loads\n`,
      );
      try {
        const report = await runLoadScenario(scenario, {
          stateDir,
          progress,
          log,
          signal: abort.signal,
          onReady: (component, ms) =>
            process.stderr.write(`  up: ${component} (${(ms / 1000).toFixed(1)} s)\n`),
        });
        progress.stop();
        const files = await writeLoadReport(report, out);
        const failed = report.checks.filter((c) => !c.ok);
        process.stdout.write(
          [
            `scenario ${scenario.name} done in ${((Date.now() - t0) / 1000).toFixed(0)} s`,
            `checks against Prometheus: ${report.checks.length - failed.length}/${report.checks.length} agree`,
            ...failed.map(
              (c) => `  ✗ ${c.figure}: report ${c.report}, Prometheus ${c.prometheus} (${c.query})`,
            ),
            `report: ${files.json}`,
            `        ${files.markdown}`,
            ...files.charts.map((c) => `        ${c}`),
            ...(flags.keep ? [`environment data and logs: ${stateDir}`] : []),
            "",
          ].join("\n"),
        );
        if (failed.length > 0) process.exitCode = 1;
      } finally {
        progress.stop();
        process.off("SIGINT", onSignal);
        process.off("SIGTERM", onSignal);
        if (!flags.keep) rmSync(stateDir, { recursive: true, force: true });
      }
    });
}

export function scenariosCommand(): Command {
  return new Command("scenarios")
    .description("list the scenarios shipped in loadtest/scenarios")
    .action(() => {
      for (const name of listScenarios()) {
        const s = loadScenario(name);
        process.stdout.write(`${name.padEnd(16)} ${s.description}\n`);
      }
    });
}
