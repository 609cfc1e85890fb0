/** Tunnel benchmark client process: holds a shard of edge tunnels and drives echo traffic. */
import * as hdr from "hdr-histogram-js";
import { pino } from "pino";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EdgeHub } from "../../edgecore/hub/edgehub.js";
import { connectInWaves } from "../child.js";
import { joinCloud, type NodeCredentials } from "../../edgecore/hub/join.js";
import { newMessage } from "../../protocol/message.js";
import { ECHO_RESOURCE, type ClientStart, type FromClient, type ToClient } from "./messages.js";

const reply = (message: FromClient): void => void process.send?.(message);
const edges: EdgeHub[] = [];
/** Send time (ns) of each outstanding echo, by msg_id. */
const outstanding = new Map<string, bigint>();
let onEcho: (rttMicros: number) => void = () => undefined;

async function start(message: ClientStart): Promise<void> {
  const log = pino({ level: "silent" });
  // Every node joins for real: its own key and CSR, the token, the certificate server.
  const certRoot = mkdtempSync(join(tmpdir(), "edgefleet-bench-"));
  const names = Array.from({ length: message.count }, (_, i) => `bench-${message.firstNode + i}`);
  const credentials: NodeCredentials[] = [];
  const joinStart = performance.now();
  for (let i = 0; i < names.length; i += 50) {
    const batch = names.slice(i, i + 50);
    const joined = await Promise.all(
      batch.map((name) =>
        joinCloud({
          server: `127.0.0.1:${message.certificatePort}`,
          token: message.token,
          nodeName: name,
          certDir: join(certRoot, name),
        }),
      ),
    );
    credentials.push(...joined);
  }
  reply({ type: "joined", count: credentials.length, elapsedMs: performance.now() - joinStart });
  rmSync(certRoot, { recursive: true, force: true });
  for (let i = 0; i < names.length; i++) {
    const creds = credentials[i];
    if (!creds) continue;
    const edge = new EdgeHub({
      server: `127.0.0.1:${message.serverPort}`,
      nodeName: names[i] ?? "",
      credentials: { caPem: creds.caPem, certPem: creds.certPem, keyPem: creds.keyPem },
      localAddress: message.localAddress,
      logger: log,
    });
    edge.onMessage((m) => {
      const sent = m.header.parent_msg_id ? outstanding.get(m.header.parent_msg_id) : undefined;
      if (sent === undefined || !m.header.parent_msg_id) return;
      outstanding.delete(m.header.parent_msg_id);
      onEcho(Number((process.hrtime.bigint() - sent) / 1000n));
    });
    edges.push(edge);
  }
  const t0 = performance.now();
  const failed = await connectInWaves(edges);
  reply({ type: "connected", count: edges.length - failed, elapsedMs: performance.now() - t0, failed });
}

function echo(payload: string): boolean {
  const edge = edges[Math.floor(Math.random() * edges.length)];
  if (!edge) return false;
  const message = newMessage({
    source: "edged",
    group: "meta",
    operation: "query",
    resource: ECHO_RESOURCE,
    content: payload,
  });
  outstanding.set(message.header.msg_id, process.hrtime.bigint());
  return edge.send(message);
}

async function ratePhase(rate: number, durationMs: number, payloadBytes: number): Promise<void> {
  const histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
  });
  let received = 0;
  onEcho = (us) => {
    histogram.recordValue(us);
    received++;
  };
  const payload = "x".repeat(payloadBytes);
  let sent = 0;
  const t0 = performance.now();
  // Send in 5 ms ticks at the target rate (a paced, open-loop load).
  while (performance.now() - t0 < durationMs) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate);
    while (sent < due) {
      echo(payload);
      sent++;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 1000));
  reply({ type: "rtt-done", histogram: hdr.encodeIntoCompressedBase64(histogram), sent, received });
  outstanding.clear();
}

async function throughputPhase(window: number, durationMs: number, payloadBytes: number): Promise<void> {
  const payload = "x".repeat(payloadBytes);
  let received = 0;
  let running = true;
  onEcho = () => {
    received++;
    if (running) echo(payload);
  };
  const t0 = performance.now();
  for (let i = 0; i < window; i++) echo(payload);
  await new Promise((r) => setTimeout(r, durationMs));
  running = false;
  reply({ type: "throughput-done", received, elapsedMs: performance.now() - t0 });
  outstanding.clear();
}

process.on("message", (message: ToClient) => {
  void (async () => {
    try {
      if (message.type === "start") await start(message);
      else if (message.type === "rtt")
        await ratePhase(message.rate, message.durationMs, message.payloadBytes);
      else if (message.type === "throughput")
        await throughputPhase(message.window, message.durationMs, message.payloadBytes);
      else {
        // Closing handshakes of thousands of tunnels add nothing to the figures: drop them.
        process.exit(0);
      }
    } catch (err) {
      reply({
        type: "error",
        code: (err as { code?: string }).code ?? "EF_ERR_BENCH",
        message: (err as Error).message,
      });
    }
  })();
});
