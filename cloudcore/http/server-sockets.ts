import type { Server as HttpServer } from "node:http";
import type { Server, Socket } from "node:net";

/**
 * Every socket a server accepted, from the TCP accept on: one still in its TLS handshake, or
 * upgraded to a WebSocket or SPDY, is not an HTTP connection and `closeAllConnections` does not
 * see it, yet `server.close()` waits for it. Closing through this never waits for a stuck client.
 */
export class ServerSockets {
  readonly #sockets = new Set<Socket>();

  constructor(private readonly server: Server) {
    server.on("connection", (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
  }

  /**
   * Stops listening; idle keep-alive connections close at once, requests in flight get `graceMs`,
   * then every socket left is destroyed.
   */
  close(graceMs = 0): Promise<void> {
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      (this.server as Partial<HttpServer>).closeIdleConnections?.();
      const cut = (): void => {
        for (const socket of this.#sockets) socket.destroy();
      };
      if (graceMs <= 0) cut();
      else setTimeout(cut, graceMs).unref();
    });
  }
}
