/** Tunnel benchmark server process: one CloudHub that echoes bench requests. */
import { pino } from "pino";
import { CloudHub } from "../../cloudcore/hub/cloudhub.js";
import { createCloudcoreMetrics } from "../../cloudcore/metrics.js";
import { responseTo } from "../../protocol/message.js";
import { CertificateAuthority } from "../../protocol/pki.js";
import { ECHO_RESOURCE, type FromServer, type ToServer } from "./messages.js";

const reply = (message: FromServer): void => void process.send?.(message);
let hub: CloudHub | undefined;

process.on("message", (message: ToServer) => {
  void (async () => {
    if (message.type === "start") {
      const ca = await CertificateAuthority.fromDer(
        Buffer.from(message.caCertDer, "base64"),
        Buffer.from(message.caKeyDer, "base64"),
      );
      hub = await CloudHub.start({
        ca,
        metrics: createCloudcoreMetrics(),
        host: "0.0.0.0",
        port: 0,
        kubeedgePort: null,
        advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
        logger: pino({ level: "warn" }),
      });
      hub.setHandlers({
        onMessage: (session, m) => {
          if (m.route.resource === ECHO_RESOURCE) session.send(responseTo(m, m.content));
        },
      });
      reply({ type: "ready", port: hub.port });
    } else if (message.type === "rss") {
      (globalThis as { gc?: () => void }).gc?.();
      reply({ type: "rss", rssBytes: process.memoryUsage().rss, sessions: hub?.sessions.size ?? 0 });
    } else {
      await hub?.close();
      process.exit(0);
    }
  })();
});
