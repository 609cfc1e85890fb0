/**
 * CloudStream + EdgeStream (`npm run bench:stream`): kubectl → kube-apiserver → cloudcore's stream
 * server → tunnel → edgecore (its own process) → containerd, all real. Measures
 * - `kubectl logs -f` throughput over a log backlog of `--log-mib` MiB;
 * - `kubectl exec` session setup (`kubectl exec -- true`, whole command) p50/p99;
 * - exec round trip inside one session (`kubectl exec -i -- cat`: a line in, the same line out)
 *   p50/p99, alone and while another session on the same tunnel is stalled (a `kubectl logs -f`
 *   whose reader is stopped with SIGSTOP): per-session flow control keeps the second figure close to
 *   the first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { Command } from "commander";
import * as hdr from "hdr-histogram-js";
import { pino } from "pino";
import type { Cloudcore } from "../../cloudcore/cloudcore.js";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { joinCloud } from "../../edgecore/hub/join.js";
import { BUSYBOX_IMAGE } from "../../scripts/env/busybox-image.js";
import { startEnvironment } from "../../scripts/env/environment.js";
import { KUBECTL } from "../../test/kubectl.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { createPodNamespace } from "../../test/pod-namespace.js";
import { untilValue } from "../../test/until.js";
import { positiveInt } from "../flags.js";
import { runBench, writeBenchReport } from "../fleet/bench-cluster.js";
import { stopChildren } from "../fleet/replicas.js";

interface Flags {
  logMib: number;
  execs: number;
  roundTrips: number;
  report: string;
}

const MiB = 1024 * 1024;
const LINE = "x".repeat(99); // 100 bytes with its newline
const log = pino({ level: "warn" });

const histogram = (): hdr.Histogram =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });

/** p50/p99/max of a histogram of microseconds, in milliseconds. */
const ms = (h: hdr.Histogram): { p50: number; p99: number; max: number; count: number } => ({
  p50: +(h.getValueAtPercentile(50) / 1000).toFixed(2),
  p99: +(h.getValueAtPercentile(99) / 1000).toFixed(2),
  max: +(h.maxValue / 1000).toFixed(2),
  count: h.totalCount,
});

function kubectl(kubeconfig: string, args: string[], stdio: "pipe" | "ignore" = "pipe"): ChildProcess {
  return spawn(KUBECTL, args, {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ["pipe", stdio, "pipe"],
  });
}

function exited(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.once("close", (code) => resolve(code ?? 1));
  });
}

/** Reads `kubectl logs -f` until `bytes` arrived; returns MB/s. */
async function followThroughput(kubeconfig: string, args: string[], bytes: number): Promise<number> {
  const started = performance.now();
  const child = kubectl(kubeconfig, ["logs", "-f", ...args]);
  let received = 0;
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received >= bytes) resolve();
    });
    child.once("close", (code) =>
      reject(new Error(`kubectl logs -f ended (${code}) after ${received} bytes`)),
    );
  });
  const seconds = (performance.now() - started) / 1000;
  child.kill("SIGTERM");
  await exited(child);
  return received / MiB / seconds;
}

/** One `kubectl exec -i -- cat` session: `rounds` lines written one at a time, each timed until echoed. */
async function echoRoundTrips(kubeconfig: string, target: string[], rounds: number): Promise<hdr.Histogram> {
  const h = histogram();
  const child = kubectl(kubeconfig, ["exec", "-i", ...target, "--", "cat"]);
  let buffered = "";
  let waiting: (() => void) | undefined;
  child.stdout?.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    if (buffered.includes("\n")) waiting?.();
  });
  try {
    for (let i = 0; i < rounds + 10; i++) {
      const line = `ping ${i}\n`;
      const sent = performance.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no echo of round ${i} within 30 s`)), 30_000);
        waiting = () => {
          clearTimeout(timer);
          resolve();
        };
        child.stdin?.write(line);
      });
      if (!buffered.startsWith(line))
        throw new Error(`echo mismatch: ${JSON.stringify(buffered.slice(0, 40))}`);
      buffered = buffered.slice(line.length);
      // The first rounds warm the path (SPDY streams, JIT): not counted.
      if (i >= 10) h.recordValue(Math.max(1, Math.round((performance.now() - sent) * 1000)));
    }
  } finally {
    child.stdin?.end();
    await exited(child);
  }
  return h;
}

async function main(flags: Flags): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "edgefleet-bench-stream-"));
  const env = await startEnvironment({
    components: ["kubernetes", "containerd"],
    stateDir: join(work, "env"),
  });
  const children: ChildProcess[] = [];
  let cloudcore: Cloudcore | undefined;
  const namespace = "bench-stream";
  const nodeName = "bench-stream-node";
  try {
    const kubeconfig = env.info.kubernetes?.kubeconfig ?? "";
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const rest = await KubeRest.create(kc);
    cloudcore = await startTestCloudcore(kc, undefined, { logger: log });
    const { token } = await cloudcore.tokens.create({ ttlSeconds: 3600, description: "bench:stream" });
    const certDir = join(work, "certs");
    await joinCloud({ server: `127.0.0.1:${cloudcore.certificates.port}`, token, nodeName, certDir });
    // edgecore in its own process, as deployed: the relay's two ends do not share an event loop.
    const edgecore = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "edgecore/main.ts",
        "run",
        ...["--node-name", nodeName, "--tunnel-server", `127.0.0.1:${cloudcore.hub.port}`],
        ...["--cert-dir", certDir, "--data-dir", join(work, "data"), "--pod-log-dir", join(work, "logs")],
        ...["--containerd-socket", env.info.containerd?.socket ?? "", "--node-ip", "127.0.0.1"],
        ...["--meta-server-port", "0", "--log-level", "warn"],
      ],
      { stdio: ["ignore", "inherit", "inherit"] },
    );
    children.push(edgecore);
    await createPodNamespace(rest, namespace);
    const lines = Math.ceil((flags.logMib * MiB) / 100);
    await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
      body: {
        metadata: { name: "app" },
        spec: {
          nodeName,
          terminationGracePeriodSeconds: 1,
          automountServiceAccountToken: false,
          containers: [
            {
              name: "app",
              image: BUSYBOX_IMAGE,
              // The backlog, then a marker, then quiet: the log is complete before it is read.
              command: ["sh", "-c", `yes ${LINE} | head -n ${lines}; echo backlog-written; exec sleep 3600`],
            },
          ],
        },
      },
    });
    const target = ["-n", namespace, "app"];
    process.stderr.write(`writing a ${flags.logMib} MiB log backlog in the pod\n`);
    await untilValue("the backlog written", 300_000, async () => {
      const child = kubectl(kubeconfig, ["logs", ...target, "--tail=1"]);
      let out = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
      await exited(child);
      return out === "backlog-written\n" ? true : undefined;
    });
    const backlogBytes = lines * 100;

    process.stderr.write("measuring kubectl logs -f throughput\n");
    const throughput: number[] = [];
    for (let i = 0; i < 3; i++) throughput.push(await followThroughput(kubeconfig, target, backlogBytes));

    process.stderr.write(`timing ${flags.execs} kubectl exec sessions\n`);
    const setup = histogram();
    for (let i = 0; i < flags.execs; i++) {
      const started = performance.now();
      const child = kubectl(kubeconfig, ["exec", ...target, "--", "true"], "ignore");
      if ((await exited(child)) !== 0) throw new Error("kubectl exec -- true failed");
      setup.recordValue(Math.round((performance.now() - started) * 1000));
    }

    process.stderr.write(`timing ${flags.roundTrips} round trips in one exec session\n`);
    const alone = await echoRoundTrips(kubeconfig, target, flags.roundTrips);

    process.stderr.write("again, beside a stalled kubectl logs -f on the same tunnel\n");
    const stalled = kubectl(kubeconfig, ["logs", "-f", ...target]);
    let stalledBytes = 0;
    stalled.stdout?.on("data", (d: Buffer) => (stalledBytes += d.byteLength));
    await untilValue("the stalled reader's first bytes", 30_000, async () =>
      stalledBytes > 0 ? true : undefined,
    );
    stalled.kill("SIGSTOP");
    const beside = await echoRoundTrips(kubeconfig, target, flags.roundTrips);
    stalled.kill("SIGCONT");
    stalled.kill("SIGTERM");
    await exited(stalled);

    const report = {
      benchmark: "stream",
      at: new Date().toISOString(),
      path: "kubectl → kube-apiserver → cloudcore stream server → tunnel → edgecore → containerd (loopback, one 2-core box)",
      logsFollow: {
        backlogMiB: +(backlogBytes / MiB).toFixed(1),
        lineBytes: 100,
        mibPerSecond: throughput.map((t) => +t.toFixed(1)),
      },
      execSessionSetupMs: ms(setup),
      execRoundTripMs: ms(alone),
      execRoundTripBesideStalledStreamMs: ms(beside),
      stalledStreamBytesBeforeStop: stalledBytes,
    };
    writeBenchReport(flags.report, report);
    await rest.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
  } finally {
    await stopChildren(children);
    await cloudcore?.close();
    await env.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

runBench(
  new Command("bench:stream")
    .description("kubectl logs -f throughput and exec latency through CloudStream and EdgeStream")
    .option("--log-mib <n>", "size of the log backlog read by kubectl logs -f", positiveInt("--log-mib"), 64)
    .option("--execs <n>", "kubectl exec sessions timed", positiveInt("--execs"), 20)
    .option("--round-trips <n>", "round trips timed in one exec session", positiveInt("--round-trips"), 500)
    .option("--report <file>", "JSON report", "reports/bench-stream.json")
    .action((flags: Flags) => main(flags)),
);
