#!/usr/bin/env node
/**
 * bench:tunnel — opens N real mTLS tunnels to one cloudhub process from several client processes
 * spread over 127.0.1.x source addresses, then measures: tunnel set-up rate, server resident memory
 * per idle tunnel, echo round-trip p50/p99 of a 1 KiB message under a paced load, and the maximum
 * sustained echo rate. Prints a table and writes a JSON report.
 */
import { fork, type ChildProcess } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, InvalidArgumentError } from "commander";
import { positiveInt } from "../flags.js";
import * as hdr from "hdr-histogram-js";
import { parseDurationSeconds } from "../../protocol/duration.js";
import { startEnvironment } from "../../scripts/env/environment.js";
import { next } from "../child.js";
import type { FromClient, FromServer, ToClient, ToServer } from "./messages.js";

const here = dirname(fileURLToPath(import.meta.url));

function durationMs(value: string): number {
  try {
    return parseDurationSeconds(value) * 1000;
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

interface Flags {
  tunnels: number;
  clients: number;
  rate: number;
  duration: number;
  payload: number;
  window: number;
  report: string;
}

function spawn(script: string): ChildProcess {
  return fork(join(here, script), [], {
    execArgv: ["--import", "tsx", "--expose-gc"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
}

async function run(flags: Flags): Promise<void> {
  const log = (line: string): void => void process.stdout.write(line + "\n");
  // The CA and join tokens live in a real apiserver, as in production.
  log("starting etcd and the Kubernetes control plane for the CA and join tokens");
  const env = await startEnvironment({ components: ["kubernetes"] });
  const kubeconfig = env.info.kubernetes?.kubeconfig ?? "";
  const server = spawn("server.ts");
  const clients: ChildProcess[] = [];
  try {
    server.send({ type: "start", kubeconfig, namespace: "edgefleet-bench" } satisfies ToServer);
    const { port, certificatePort, token } = await next<Extract<FromServer, { type: "ready" }>>(
      server,
      "ready",
    );
    server.send({ type: "rss" } satisfies ToServer);
    const idle = await next<Extract<FromServer, { type: "rss" }>>(server, "rss");
    log(
      `cloudhub up on :${port} (RSS ${(idle.rssBytes / 2 ** 20).toFixed(1)} MiB); opening ${flags.tunnels} tunnels from ${flags.clients} processes`,
    );

    const per = Math.ceil(flags.tunnels / flags.clients);
    const t0 = performance.now();
    for (let c = 0; c < flags.clients; c++) {
      const child = spawn("client.ts");
      clients.push(child);
      const count = Math.min(per, flags.tunnels - c * per);
      child.send({
        type: "start",
        token,
        certificatePort,
        serverPort: port,
        firstNode: c * per,
        count,
        localAddress: `127.0.1.${c + 1}`,
      } satisfies ToClient);
    }
    const joinedAll = Promise.all(
      clients.map((c) => next<Extract<FromClient, { type: "joined" }>>(c, "joined")),
    );
    const connectedAll = Promise.all(
      clients.map((c) => next<Extract<FromClient, { type: "connected" }>>(c, "connected")),
    );
    const joined = await joinedAll;
    const joinMs = Math.max(...joined.map((j) => j.elapsedMs));
    const joinedCount = joined.reduce((n, j) => n + j.count, 0);
    log(`${joinedCount} nodes joined (token + CSR → certificate) in ${(joinMs / 1000).toFixed(1)} s`);
    const connected = await connectedAll;
    const setupMs = performance.now() - t0;
    const opened = connected.reduce((n, c) => n + c.count, 0);
    const failed = connected.reduce((n, c) => n + c.failed, 0);
    // Joining comes first; the tunnel rate counts dialling only.
    const dialMs = Math.max(...connected.map((c) => c.elapsedMs));
    server.send({ type: "rss" } satisfies ToServer);
    const loaded = await next<Extract<FromServer, { type: "rss" }>>(server, "rss");
    const perTunnelKiB = (loaded.rssBytes - idle.rssBytes) / opened / 1024;
    log(
      `${opened} tunnels open (${failed} failed) in ${(dialMs / 1000).toFixed(1)} s of dialling; server sessions ${loaded.sessions}`,
    );

    const perClientRate = flags.rate / flags.clients;
    clients.forEach((c) =>
      c.send({
        type: "rtt",
        rate: perClientRate,
        durationMs: flags.duration,
        payloadBytes: flags.payload,
      } satisfies ToClient),
    );
    const rtt = await Promise.all(
      clients.map((c) => next<Extract<FromClient, { type: "rtt-done" }>>(c, "rtt-done")),
    );
    const merged = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 60_000_000,
      numberOfSignificantValueDigits: 3,
    });
    for (const r of rtt) merged.add(hdr.decodeFromCompressedBase64(r.histogram));
    const sent = rtt.reduce((n, r) => n + r.sent, 0);
    const echoed = rtt.reduce((n, r) => n + r.received, 0);

    clients.forEach((c) =>
      c.send({
        type: "throughput",
        window: flags.window,
        durationMs: flags.duration,
        payloadBytes: flags.payload,
      } satisfies ToClient),
    );
    const tp = await Promise.all(
      clients.map((c) => next<Extract<FromClient, { type: "throughput-done" }>>(c, "throughput-done")),
    );
    const maxRate = tp.reduce((n, t) => n + t.received / (t.elapsedMs / 1000), 0);

    const report = {
      schema: "edgefleet.bench.tunnel/v1",
      date: new Date().toISOString(),
      machine: { cpus: (await import("node:os")).cpus().length, node: process.version },
      params: { ...flags },
      join: { joined: joinedCount, seconds: joinMs / 1000, perSecond: joinedCount / (joinMs / 1000) },
      tunnels: {
        opened,
        failed,
        clientProcesses: flags.clients,
        sourceAddresses: flags.clients,
        setupSeconds: setupMs / 1000,
        dialSeconds: dialMs / 1000,
        perSecond: opened / (dialMs / 1000),
      },
      serverMemory: {
        idleRssMiB: idle.rssBytes / 2 ** 20,
        loadedRssMiB: loaded.rssBytes / 2 ** 20,
        perIdleTunnelKiB: perTunnelKiB,
      },
      roundTrip: {
        targetRate: flags.rate,
        payloadBytes: flags.payload,
        sent,
        echoed,
        p50Ms: merged.getValueAtPercentile(50) / 1000,
        p99Ms: merged.getValueAtPercentile(99) / 1000,
        maxMs: merged.maxValue / 1000,
      },
      maxEchoPerSecond: maxRate,
    };
    log("");
    log(
      `join                    ${report.join.perSecond.toFixed(0)} nodes/s (token check, CSR signed, over HTTPS)`,
    );
    log(
      `tunnel set-up           ${report.tunnels.perSecond.toFixed(0)} tunnels/s (TLS + upgrade + assertion check)`,
    );
    log(
      `server RSS per tunnel   ${perTunnelKiB.toFixed(1)} KiB (idle ${report.serverMemory.idleRssMiB.toFixed(0)} MiB → ${report.serverMemory.loadedRssMiB.toFixed(0)} MiB)`,
    );
    log(
      `echo RTT @${flags.rate}/s    p50 ${report.roundTrip.p50Ms.toFixed(2)} ms, p99 ${report.roundTrip.p99Ms.toFixed(2)} ms (${echoed}/${sent} echoed, ${flags.payload} B)`,
    );
    log(
      `max echo rate           ${maxRate.toFixed(0)} msgs/s each way (window ${flags.window} per client process)`,
    );
    mkdirSync(dirname(flags.report), { recursive: true });
    writeFileSync(flags.report, JSON.stringify(report, null, 2) + "\n");
    log(`report: ${flags.report}`);
  } finally {
    for (const c of clients) c.send({ type: "stop" } satisfies ToClient);
    server.send({ type: "stop" } satisfies ToServer);
    await Promise.all(
      [...clients, server].map(
        (c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r))),
      ),
    );
    await env.stop();
  }
}

const program = new Command("bench:tunnel")
  .option("--tunnels <n>", "tunnels to open", positiveInt("--tunnels"), 10_000)
  .option(
    "--clients <n>",
    "client processes (one 127.0.1.x source address each)",
    positiveInt("--clients"),
    4,
  )
  .option("--rate <n>", "echo messages per second for the round-trip phase", positiveInt("--rate"), 10_000)
  .option("--duration <d>", "length of each load phase", durationMs, 10_000)
  .option("--payload <bytes>", "echo payload size", positiveInt("--payload"), 1024)
  .option(
    "--window <n>",
    "outstanding echoes per client process in the throughput phase",
    positiveInt("--window"),
    2000,
  )
  .option("--report <path>", "JSON report", "reports/bench-tunnel.json")
  .action((flags: Flags) => run(flags));

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`bench:tunnel: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
