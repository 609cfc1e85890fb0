import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { parseDurationMs } from "../../protocol/duration.js";
import type { SimulatorMetrics } from "./metrics.js";

const ChaosRequest = z
  .object({
    fraction: z.number().gt(0).lte(1),
    down: z.string().refine((d) => {
      try {
        parseDurationMs(d);
        return true;
      } catch {
        return false;
      }
    }, "not a duration like 5s"),
  })
  .strict();
export type ChaosRequest = z.infer<typeof ChaosRequest>;

/**
 * The running simulator's loopback endpoint: `GET /metrics` (Prometheus), `GET /healthz`, and
 * `POST /chaos` ({"fraction":0.1,"down":"5s"}) with which `edgefleet-sim chaos` disturbs a run.
 */
export class ControlServer {
  private constructor(private readonly server: Server) {}

  static async start(
    port: number,
    metrics: SimulatorMetrics,
    chaos: (request: { fraction: number; downMs: number }) => Promise<number>,
  ): Promise<ControlServer> {
    const server = createServer((req, res) => {
      const reply = (status: number, body: unknown, type = "application/json"): void => {
        res.writeHead(status, { "content-type": type });
        res.end(typeof body === "string" ? body : JSON.stringify(body));
      };
      if (req.method === "GET" && req.url === "/metrics") {
        metrics.registry.metrics().then(
          (text) => reply(200, text, metrics.registry.contentType),
          (err: unknown) => reply(500, { error: (err as Error).message }),
        );
      } else if (req.method === "GET" && req.url === "/healthz") {
        reply(200, "ok", "text/plain");
      } else if (req.method === "POST" && req.url === "/chaos") {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          let parsed: ChaosRequest;
          try {
            const result = ChaosRequest.safeParse(JSON.parse(Buffer.concat(chunks).toString("utf8")));
            if (!result.success) {
              const issue = result.error.issues[0];
              reply(400, {
                error: `field ${issue?.path.join(".") || "(body)"}: ${issue?.message ?? "invalid"}`,
              });
              return;
            }
            parsed = result.data;
          } catch {
            reply(400, { error: "body is not JSON" });
            return;
          }
          chaos({ fraction: parsed.fraction, downMs: parseDurationMs(parsed.down) }).then(
            (cut) => reply(200, { cut }),
            (err: unknown) => reply(500, { error: (err as Error).message }),
          );
        });
      } else {
        reply(404, { error: `no ${req.method ?? ""} ${req.url ?? ""}` });
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      // Loopback only: chaos is not for the network to trigger.
      server.listen(port, "127.0.0.1", resolve);
    });
    return new ControlServer(server);
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }
}
