#!/usr/bin/env node
/**
 * The README's first command (`npm start`). For now it brings the local environment up, shows what
 * the real apiserver says about itself, lists the nodes and the servers, and brings it all down.
 * Later issues grow this into the HA cloudcore + edgecore + simulated fleet demo.
 */
import { CoreV1Api, KubeConfig, VersionApi } from "@kubernetes/client-node";
import { startEnvironment } from "./env/environment.js";

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i] ?? 0))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

async function main(): Promise<void> {
  const log = (line: string): void => void process.stdout.write(line + "\n");
  const t0 = Date.now();
  log(
    "edgefleet: starting the local environment (etcd, kube-apiserver, scheduler, controller-manager, redis, mosquitto, containerd)",
  );
  const ready: string[][] = [["COMPONENT", "READY AFTER"]];
  const env = await startEnvironment({
    onReady: (name, ms) => {
      ready.push([name, `${(ms / 1000).toFixed(1)} s`]);
      log(`  ready: ${name} (${(ms / 1000).toFixed(1)} s)`);
    },
  });
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log("stopping the environment");
    await env.stop();
  };
  process.once("SIGINT", () => void stop());
  process.once("SIGTERM", () => void stop());
  try {
    const kubernetes = env.info.kubernetes;
    if (!kubernetes) throw new Error("environment started without kubernetes");
    const kc = new KubeConfig();
    kc.loadFromFile(kubernetes.kubeconfig);
    const version = await kc.makeApiClient(VersionApi).getCode();
    log("");
    log(`apiserver ${kubernetes.apiserverUrl} (GET /version):`);
    log(
      table([
        ["gitVersion", "major.minor", "goVersion", "platform", "buildDate"],
        [
          version.gitVersion,
          `${version.major}.${version.minor}`,
          version.goVersion,
          version.platform,
          version.buildDate,
        ],
      ]),
    );
    const nodes = await kc.makeApiClient(CoreV1Api).listNode();
    log("");
    log(`nodes: ${nodes.items.length}${nodes.items.length === 0 ? " (no edge node has joined yet)" : ""}`);
    if (nodes.items.length > 0) {
      log(
        table([
          ["NAME", "READY"],
          ...nodes.items.map((n) => [
            n.metadata?.name ?? "",
            n.status?.conditions?.find((c) => c.type === "Ready")?.status ?? "Unknown",
          ]),
        ]),
      );
    }
    log("");
    log(table(ready));
    log("");
    log(
      `environment came up in ${((Date.now() - t0) / 1000).toFixed(1)} s; logs were in ${env.info.stateDir}`,
    );
  } finally {
    await stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`edgefleet: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
