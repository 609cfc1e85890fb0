/**
 * Fleet benchmark client (bench:failover, bench:rebalance): a shard of edges, joined for real,
 * connected through a balancer; it records every tunnel that went down and how long it stayed down.
 */
import { pino } from "pino";
import { EdgeHub } from "../../edgecore/hub/edgehub.js";
import { requestNodeCertificate } from "../../edgecore/hub/join.js";
import { registerNode, renewLease } from "../../edgecore/upstream/requests.js";
import { OK_CONTENT, Operation, Source } from "../../protocol/constants.js";
import { responseTo } from "../../protocol/message.js";
import { connectInWaves } from "../child.js";
import type { ClientStart, FromClient, ToClient } from "./messages.js";

const reply = (message: FromClient): void => void process.send?.(message);
const edges: EdgeHub[] = [];
let leaseTimer: NodeJS.Timeout | undefined;
let firstNode = 0;
/** Since the last `track`: reconnects per edge, and every down time. */
let reconnects: number[] = [];
let downMs: number[] = [];

/** Watches one edge's status: a tunnel that comes back after being up counts as a reconnect. */
function track(edge: EdgeHub, index: number): void {
  let downSince: number | undefined;
  let wasUp = false;
  edge.onStatus((status) => {
    if (status.type === "connected") {
      if (wasUp && downSince !== undefined) {
        downMs.push(performance.now() - downSince);
        reconnects[index] = (reconnects[index] ?? 0) + 1;
      }
      wasUp = true;
      downSince = undefined;
    } else if (wasUp && downSince === undefined) {
      downSince = performance.now();
    }
  });
}

async function start(m: ClientStart): Promise<void> {
  const log = pino({ level: "silent" });
  firstNode = m.firstNode;
  const names = Array.from({ length: m.count }, (_, i) => `${m.prefix}-${m.firstNode + i}`);
  for (let i = 0; i < names.length; i += 50) {
    const batch = names.slice(i, i + 50);
    const joined = await Promise.all(
      batch.map((name) =>
        requestNodeCertificate({ server: `127.0.0.1:${m.certificatePort}`, token: m.token, nodeName: name }),
      ),
    );
    joined.forEach((creds, j) => {
      const edge = new EdgeHub({
        server: `127.0.0.1:${m.tunnelPort}`,
        nodeName: batch[j] ?? "",
        credentials: creds,
        localAddress: m.localAddress,
        logger: log,
        requestTimeoutMs: 120_000,
      });
      // Ack what the cloud sends, as an edge's metadata store does.
      edge.onMessage((msg) => {
        if (msg.route.source === Source.EdgeController && msg.route.operation !== Operation.Response)
          edge.send(responseTo(msg, OK_CONTENT));
      });
      track(edge, edges.length);
      edges.push(edge);
    });
  }
  const t0 = performance.now();
  const failed = await connectInWaves(edges);
  if (m.register) {
    for (let i = 0; i < edges.length; i += 50) {
      await Promise.all(
        edges.slice(i, i + 50).map((edge, j) => {
          const name = names[i + j] ?? "";
          return edge
            .request(
              registerNode({
                name,
                internalIP: "127.0.0.1",
                labels: { "edgefleet.io/bench": m.prefix },
                capacity: { cpu: "4", memory: "8Gi", pods: "110" },
              }),
            )
            .then(() => edge.request(renewLease(name)));
        }),
      );
    }
    // Renew Leases as a kubelet does (every 10 s), so nodes stay Ready by their own account.
    leaseTimer = setInterval(() => {
      edges.forEach((edge, i) => void edge.request(renewLease(names[i] ?? "")).catch(() => undefined));
    }, 10_000);
  }
  reply({ type: "connected", count: edges.length - failed, failed, elapsedMs: performance.now() - t0 });
}

process.on("message", (message: ToClient) => {
  void (async () => {
    if (message.type === "start") {
      await start(message).catch((err: unknown) => reply({ type: "error", message: (err as Error).message }));
    } else if (message.type === "status") {
      reply({
        type: "status",
        connected: edges.filter((e) => e.status.type === "connected").length,
        total: edges.length,
        firstNode,
        reconnects: edges.map((_, i) => reconnects[i] ?? 0),
        downMs,
      });
    } else if (message.type === "track") {
      reconnects = [];
      downMs = [];
      reply({ type: "tracking" });
    } else {
      clearInterval(leaseTimer);
      await Promise.all(edges.map((e) => e.close()));
      process.exit(0);
    }
  })();
});
