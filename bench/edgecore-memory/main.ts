/**
 * edgecore's footprint (`npm run bench:edgecore-memory`): one real edgecore process (the built
 * JavaScript, as deployed) joined to a cloudcore on the real control plane, running N pods on the
 * real containerd. Reports its resident memory idle and with the pods running, its heap, its CPU
 * use at rest, and pod startup (created → Running in the apiserver) p50/p99. KubeEdge quotes about
 * 70 MB for its edgecore.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { Command } from "commander";
import * as hdr from "hdr-histogram-js";
import { pino } from "pino";
import type { Cloudcore } from "../../cloudcore/cloudcore.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { untilValue } from "../../test/until.js";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { isNodeReady, type NodeJson } from "../../cloudcore/kube/objects.js";
import { joinCloud } from "../../edgecore/hub/join.js";
import { BUSYBOX_IMAGE } from "../../scripts/env/busybox-image.js";
import { startEnvironment } from "../../scripts/env/environment.js";
import { runCommand } from "../../scripts/env/run-command.js";
import { positiveInt } from "../flags.js";
import { runBench, writeBenchReport } from "../fleet/bench-cluster.js";
import { cpuSeconds, rssBytes } from "../fleet/process-stats.js";
import { stopChildren } from "../fleet/replicas.js";

interface Flags {
  pods: number;
  nodeArgs: string;
  settle: number;
  report: string;
}

const MiB = 1024 * 1024;
const log = pino({ level: "warn" });
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Samples the process's RSS every second for `seconds`; returns the samples in bytes. */
async function sampleRss(pid: number, seconds: number): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < seconds; i++) {
    samples.push(rssBytes(pid));
    await sleep(1000);
  }
  return samples;
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

async function metric(url: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(" ") + 1));
}

async function main(flags: Flags): Promise<void> {
  process.stderr.write("building the edgecore JavaScript (npm run build)\n");
  await runCommand("npm", ["run", "build"], { timeoutMs: 300_000 });
  const work = mkdtempSync(join(tmpdir(), "edgefleet-bench-edgecore-"));
  const env = await startEnvironment({
    components: ["kubernetes", "containerd"],
    stateDir: join(work, "env"),
  });
  const children: ChildProcess[] = [];
  let cloudcore: Cloudcore | undefined;
  const namespace = "bench-edgecore";
  const nodeName = "bench-edgecore-node";
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(env.info.kubernetes?.kubeconfig ?? "");
    const rest = await KubeRest.create(kc);
    cloudcore = await startTestCloudcore(kc, undefined, { logger: log });
    const { token } = await cloudcore.tokens.create({
      ttlSeconds: 3600,
      description: "bench:edgecore-memory",
    });
    const certDir = join(work, "certs");
    await joinCloud({ server: `127.0.0.1:${cloudcore.certificates.port}`, token, nodeName, certDir });
    // As deployed: the binary itself (its shebang sets the V8 flags), unless --node-args overrides.
    chmodSync("dist/edgecore/main.js", 0o755);
    const nodeArgs = flags.nodeArgs.split(" ").filter((a) => a !== "");
    const [command, prefix] =
      nodeArgs.length > 0
        ? [process.execPath, [...nodeArgs, "dist/edgecore/main.js"]]
        : ["dist/edgecore/main.js", []];
    const edgecore = spawn(
      command,
      [
        ...prefix,
        "run",
        "--node-name",
        nodeName,
        "--tunnel-server",
        `127.0.0.1:${cloudcore.hub.port}`,
        "--cert-dir",
        certDir,
        "--data-dir",
        join(work, "data"),
        "--pod-log-dir",
        join(work, "logs"),
        "--containerd-socket",
        env.info.containerd?.socket ?? "",
        "--node-ip",
        "127.0.0.1",
        "--meta-server-port",
        "0",
        "--log-level",
        "warn",
      ],
      { stdio: ["ignore", "inherit", "pipe"] },
    );
    children.push(edgecore);
    const metaServer = await new Promise<string>((resolve, reject) => {
      let text = "";
      edgecore.stderr.on("data", (chunk: Buffer) => {
        text += chunk.toString();
        const m = /MetaServer (http:\/\/\S+)/.exec(text);
        if (m?.[1]) resolve(m[1]);
      });
      edgecore.once("exit", (code) => reject(new Error(`edgecore exited (${code}): ${text.slice(-2000)}`)));
    });
    const pid = edgecore.pid ?? 0;
    await untilValue("the node to be Ready", 60_000, async () => {
      const node = await rest.get<NodeJson>(`/api/v1/nodes/${nodeName}`).catch(() => undefined);
      return node && isNodeReady(node) ? true : undefined;
    });
    await sleep(flags.settle * 1000);
    const idle = await sampleRss(pid, 10);

    await rest.request("create", "/api/v1/namespaces", { body: { metadata: { name: namespace } } });
    const created = new Map<string, number>();
    for (let i = 0; i < flags.pods; i++) {
      const name = `pod-${i}`;
      created.set(name, Date.now());
      await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
        body: {
          metadata: { name },
          spec: {
            nodeName,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: "app", image: BUSYBOX_IMAGE, command: ["sh", "-c", "exec sleep 3600"] }],
          },
        },
      });
    }
    const startup = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 3_600_000,
      numberOfSignificantValueDigits: 3,
    });
    const seen = new Set<string>();
    await untilValue(`${flags.pods} pods Running`, 300_000, async () => {
      const list = (await rest.get(`/api/v1/namespaces/${namespace}/pods`)) as unknown as {
        items: { metadata: { name: string }; status?: { phase?: string } }[];
      };
      for (const pod of list.items) {
        if (pod.status?.phase === "Running" && !seen.has(pod.metadata.name)) {
          seen.add(pod.metadata.name);
          startup.recordValue(Date.now() - (created.get(pod.metadata.name) ?? Date.now()));
        }
      }
      return seen.size === flags.pods ? true : undefined;
    });
    await sleep(flags.settle * 1000);
    const cpuBefore = cpuSeconds(pid);
    const busy = await sampleRss(pid, 30);
    const cpuAfter = cpuSeconds(pid);
    const heapUsed = await metric(metaServer, "edgefleet_edgecore_nodejs_heap_size_used_bytes");
    const report = {
      benchmark: "edgecore-memory",
      at: new Date().toISOString(),
      pods: flags.pods,
      nodeArgs: flags.nodeArgs,
      edgecore: {
        rssIdleMiB: +(median(idle) / MiB).toFixed(1),
        rssWithPodsMiB: +(median(busy) / MiB).toFixed(1),
        rssWithPodsMaxMiB: +(Math.max(...busy) / MiB).toFixed(1),
        heapUsedMiB: heapUsed === undefined ? null : +(heapUsed / MiB).toFixed(1),
        cpuPercentAtRest: +(((cpuAfter - cpuBefore) / 30) * 100).toFixed(2),
      },
      podStartupMs: {
        p50: startup.getValueAtPercentile(50),
        p99: startup.getValueAtPercentile(99),
        max: startup.maxValue,
      },
      kubeedgeQuotedMiB: 70,
      note: "RSS of the edgecore process only (node dist/edgecore/main.js); containerd and its shims are not included",
    };
    writeBenchReport(flags.report, report);
    // Pods off the node before the environment goes (containerd stops its tasks too).
    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  } finally {
    await stopChildren(children);
    await cloudcore?.close();
    await env.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

runBench(
  new Command("bench:edgecore-memory")
    .description("edgecore's resident memory and CPU with N real pods on containerd")
    .option("--pods <n>", "pods to run on the node", positiveInt("--pods"), 10)
    .option("--settle <seconds>", "wait before each measurement", positiveInt("--settle"), 10)
    .option(
      "--node-args <args>",
      "run with node and these flags instead of the binary's own (its shebang)",
      "",
    )
    .option("--report <file>", "JSON report", "reports/bench-edgecore-memory.json")
    .action((flags: Flags) => main(flags)),
);
