/** One layer of bench:client-memory: opens the sockets, then reports memory growth per socket. */
import net from "node:net";
import tls from "node:tls";
import WebSocket from "ws";
import type { LayerResult, LayerTask } from "./layers.js";

const BATCH = 100;

function measure(): NodeJS.MemoryUsage {
  // Run with --expose-gc: collect first, so what stays is what the sockets hold.
  (globalThis as { gc?: () => void }).gc?.();
  return process.memoryUsage();
}

function open(task: LayerTask, shared: tls.SecureContext): Promise<unknown> {
  const { port, caPem: ca, certPem: cert, keyPem: key } = task;
  return new Promise((resolve, reject) => {
    switch (task.layer) {
      case "tcp": {
        const socket = net.connect({ host: "127.0.0.1", port }, () => resolve(socket));
        socket.once("error", reject);
        return;
      }
      case "tls-own-ctx":
      case "tls-shared-ctx": {
        const context = task.layer === "tls-own-ctx" ? { ca, cert, key } : { secureContext: shared };
        const socket = tls.connect({ host: "127.0.0.1", port, servername: "localhost", ...context }, () =>
          resolve(socket),
        );
        socket.once("error", reject);
        return;
      }
      case "ws-tls": {
        const socket = new WebSocket(`wss://127.0.0.1:${port}/`, { ca, cert, key, perMessageDeflate: false });
        socket.once("open", () => resolve(socket));
        socket.once("error", reject);
        return;
      }
    }
  });
}

process.once("message", (raw) => {
  void (async () => {
    const task = raw as LayerTask;
    const shared = tls.createSecureContext({ ca: task.caPem, cert: task.certPem, key: task.keyPem });
    const held: unknown[] = [];
    const before = measure();
    for (let i = 0; i < task.connections; i += BATCH) {
      const batch = Math.min(BATCH, task.connections - i);
      held.push(...(await Promise.all(Array.from({ length: batch }, () => open(task, shared)))));
    }
    await new Promise((r) => setTimeout(r, 1000));
    const after = measure();
    const result: LayerResult = {
      layer: task.layer,
      connections: held.length,
      rssKiBPerConnection: Math.round(((after.rss - before.rss) / held.length / 1024) * 10) / 10,
      heapKiBPerConnection: Math.round(((after.heapUsed - before.heapUsed) / held.length / 1024) * 10) / 10,
    };
    process.send?.(result);
  })().catch((err: unknown) => {
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  });
});
