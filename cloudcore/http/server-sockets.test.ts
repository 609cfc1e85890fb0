import { connect, createServer, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { ServerSockets } from "./server-sockets.js";

async function listening(): Promise<{ sockets: ServerSockets; port: number }> {
  const server = createServer(() => undefined);
  const sockets = new ServerSockets(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { sockets, port: (server.address() as { port: number }).port };
}

async function client(port: number): Promise<{ socket: Socket; closed: Promise<number> }> {
  const socket = connect({ host: "127.0.0.1", port });
  await new Promise<void>((resolve) => socket.once("connect", resolve));
  return { socket, closed: new Promise((resolve) => socket.once("close", () => resolve(Date.now()))) };
}

describe("closing a server through ServerSockets", () => {
  it("does not wait for a client that never speaks", async () => {
    const { sockets, port } = await listening();
    const { closed } = await client(port);
    const started = Date.now();
    await sockets.close();
    expect((await closed) - started).toBeLessThan(1000);
  });

  it("gives open connections the grace period, then cuts them", async () => {
    const { sockets, port } = await listening();
    const { closed } = await client(port);
    const started = Date.now();
    await sockets.close(300);
    const at = await closed;
    expect(at - started).toBeGreaterThanOrEqual(250);
    expect(at - started).toBeLessThan(2000);
  });
});
