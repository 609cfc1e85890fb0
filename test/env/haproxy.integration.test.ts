import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startHaproxy, type HaproxyBalancer } from "../../scripts/env/haproxy.js";

/** A loopback TCP server that answers each line with "<name>:<line>". */
async function echoServer(name: string): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.setEncoding("utf8");
    socket.on("data", (data: string) => socket.write(`${name}:${data}`));
    socket.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  return { server, port: address.port };
}

function roundTrip(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    socket.setEncoding("utf8");
    socket.setTimeout(5000, () => socket.destroy(new Error("round trip timed out")));
    socket.once("connect", () => socket.write(line));
    socket.once("data", (data: string) => {
      resolve(data);
      socket.end();
    });
    socket.once("error", reject);
  });
}

describe("haproxy", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(): Promise<{ lb: HaproxyBalancer; a: Server; b: Server }> {
    const a = await echoServer("a");
    const b = await echoServer("b");
    cleanups.push(() => new Promise<void>((r) => a.server.close(() => r())));
    cleanups.push(() => new Promise<void>((r) => b.server.close(() => r())));
    const dir = mkdtempSync(join(tmpdir(), "edgefleet-haproxy-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const lb = await startHaproxy(dir, [
      {
        name: "echo",
        balance: "roundrobin",
        backends: [
          { name: "a", host: "127.0.0.1", port: a.port },
          { name: "b", host: "127.0.0.1", port: b.port },
        ],
      },
    ]);
    cleanups.push(() => lb.stop());
    return { lb, a: a.server, b: b.server };
  }

  it("tcp - round trips through the balancer reach both backends", async () => {
    const { lb } = await setup();
    const port = lb.ports["echo"] ?? 0;
    const replies = [];
    for (let i = 0; i < 4; i++) replies.push(await roundTrip(port, `ping${i}`));
    expect(replies.map((r) => r.split(":")[1])).toEqual(["ping0", "ping1", "ping2", "ping3"]);
    expect(new Set(replies.map((r) => r.split(":")[0]))).toEqual(new Set(["a", "b"]));
  });

  it("failover - routes around a stopped backend", async () => {
    const { lb, a } = await setup();
    const port = lb.ports["echo"] ?? 0;
    await new Promise<void>((r) => a.close(() => r()));
    // Right after the stop HAProxy may still pick "a"; redispatch retries the connect on "b".
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await roundTrip(port, `ping${i}`));
    expect(replies.every((r) => r.startsWith("b:"))).toBe(true);
  });
});
