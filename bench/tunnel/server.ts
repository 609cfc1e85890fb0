/** Tunnel benchmark server process: one CloudHub that echoes bench requests. */
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { CertificateServer } from "../../cloudcore/hub/certificate-server.js";
import { CloudHub } from "../../cloudcore/hub/cloudhub.js";
import { createCloudcoreMetrics } from "../../cloudcore/metrics.js";
import { loadOrCreateCa } from "../../cloudcore/security/ca-store.js";
import { JoinTokens } from "../../cloudcore/security/join-tokens.js";
import { responseTo } from "../../protocol/message.js";
import { ECHO_RESOURCE, type FromServer, type ToServer } from "./messages.js";

const reply = (message: FromServer): void => void process.send?.(message);
let hub: CloudHub | undefined;
let certificates: CertificateServer | undefined;

process.on("message", (message: ToServer) => {
  void (async () => {
    if (message.type === "start") {
      const kc = new KubeConfig();
      kc.loadFromFile(message.kubeconfig);
      const core = kc.makeApiClient(CoreV1Api);
      const ca = await loadOrCreateCa(core, message.namespace);
      const tokens = new JoinTokens(core, ca, { namespace: message.namespace });
      const metrics = createCloudcoreMetrics();
      certificates = await CertificateServer.start({
        ca,
        tokens,
        metrics,
        host: "0.0.0.0",
        port: 0,
        advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
        logger: pino({ level: "warn" }),
      });
      const { token } = await tokens.create({ ttlSeconds: 3600, description: "bench:tunnel" });
      hub = await CloudHub.start({
        ca,
        metrics,
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
      reply({ type: "ready", port: hub.port, certificatePort: certificates.port, token });
    } else if (message.type === "rss") {
      (globalThis as { gc?: () => void }).gc?.();
      reply({ type: "rss", rssBytes: process.memoryUsage().rss, sessions: hub?.sessions.size ?? 0 });
    } else {
      await hub?.close();
      await certificates?.close();
      process.exit(0);
    }
  })();
});
