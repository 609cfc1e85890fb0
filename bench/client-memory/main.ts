/**
 * bench:client-memory — what one edge's tunnel costs the process that holds it (the simulator),
 * layer by layer: a plain TCP socket, a TLS client socket with its own secure context (mutual TLS:
 * every node has its own certificate and key, so its own context), the same with one shared
 * context (what TLS itself costs per connection), and a `ws` WebSocket over TLS as EdgeHub opens
 * it. Each layer runs in a fresh child process that opens `--connections` sockets to one local
 * mutual-TLS WebSocket server and reports its resident memory growth per socket after a GC.
 */
import { fork } from "node:child_process";
import https from "node:https";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { WebSocketServer } from "ws";
import { CertificateAuthority, issueServingCertificate } from "../../protocol/pki.js";
import { positiveInt } from "../flags.js";
import { runBench, writeBenchReport } from "../fleet/bench-cluster.js";
import { LAYERS, type LayerResult, type LayerTask } from "./layers.js";

const here = dirname(fileURLToPath(import.meta.url));

interface Flags {
  connections: number;
  report: string;
}

async function run(flags: Flags): Promise<void> {
  const ca = await CertificateAuthority.create("bench-client-memory");
  const serving = await issueServingCertificate(ca, { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
  const client = await ca.issue({ subject: "CN=system:node:bench, O=system:nodes", usage: "client" });
  const server = https.createServer({
    cert: serving.certPem,
    key: serving.keyPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
  });
  const wss = new WebSocketServer({ server });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  const results: LayerResult[] = [];
  try {
    for (const layer of LAYERS) {
      const child = fork(join(here, "layer-child.ts"), [], {
        execArgv: ["--import", "tsx", "--expose-gc"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      const task: LayerTask = {
        layer,
        port,
        connections: flags.connections,
        caPem: ca.certPem,
        certPem: client.certPem,
        keyPem: client.keyPem,
      };
      child.send(task);
      const result = await new Promise<LayerResult>((resolve, reject) => {
        child.once("message", (m) => resolve(m as LayerResult));
        child.once("exit", (code) => reject(new Error(`layer ${layer} exited with ${code ?? "a signal"}`)));
      });
      child.kill();
      results.push(result);
      process.stdout.write(
        `${layer.padEnd(12)} ${result.rssKiBPerConnection.toFixed(1).padStart(6)} KiB resident, ${result.heapKiBPerConnection.toFixed(1).padStart(5)} KiB JS heap per connection\n`,
      );
    }
  } finally {
    for (const socket of wss.clients) socket.terminate();
    wss.close();
    server.closeAllConnections();
    server.close();
  }
  writeBenchReport(flags.report, {
    benchmark: "client-memory",
    date: new Date().toISOString(),
    node: process.version,
    connections: flags.connections,
    layers: results,
  });
}

const program = new Command("bench:client-memory")
  .option("--connections <n>", "sockets per layer", positiveInt("--connections"), 2000)
  .option("--report <path>", "JSON report", "reports/bench-client-memory.json")
  .action((flags: Flags) => run(flags));

runBench(program);
