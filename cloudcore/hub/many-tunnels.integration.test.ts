import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { EdgeHub } from "../../edgecore/hub/edgehub.js";
import { newMessage } from "../../protocol/message.js";
import { CertificateAuthority, generateKeyPair, privateKeyPem } from "../../protocol/pki.js";
import { createCloudcoreMetrics } from "../metrics.js";
import { CloudHub } from "./cloudhub.js";

const TUNNELS = 1000;
const quiet = pino({ level: "silent" });

describe("cloudhub capacity", () => {
  const edges: EdgeHub[] = [];
  let hub: CloudHub | undefined;
  afterAll(async () => {
    await Promise.all(edges.map((e) => e.close()));
    await hub?.close();
  });

  it(`holds ${TUNNELS} concurrent authenticated tunnels in one process and reaches every one`, async () => {
    const ca = await CertificateAuthority.create("KubeEdge");
    const metrics = createCloudcoreMetrics();
    hub = await CloudHub.start({
      ca,
      metrics,
      host: "127.0.0.1",
      port: 0,
      kubeedgePort: null,
      advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
      logger: quiet,
    });
    // One key pair for all nodes keeps the test fast; each node still has its own certificate.
    const keys = await generateKeyPair();
    const keyPem = await privateKeyPem(keys.privateKey);
    for (let i = 0; i < TUNNELS; i++) {
      const name = `cap-${i}`;
      const cert = await ca.sign(keys.publicKey, {
        subject: `O=system:nodes, CN=system:node:${name}`,
        usage: "client",
      });
      const edge = new EdgeHub({
        server: `127.0.0.1:${hub.port}`,
        nodeName: name,
        credentials: { caPem: ca.certPem, certPem: cert.toString("pem"), keyPem },
        logger: quiet,
      });
      edges.push(edge);
    }
    const received = new Set<string>();
    edges.forEach((edge, i) => edge.onMessage(() => received.add(`cap-${i}`)));
    // Connect in batches, as a fleet reconnecting would, rather than all in one tick.
    for (let i = 0; i < TUNNELS; i += 100) {
      const batch = edges.slice(i, i + 100);
      batch.forEach((e) => e.start());
      await Promise.all(batch.map((e) => e.connected()));
    }
    expect(hub.sessions.size).toBe(TUNNELS);
    expect((await metrics.connectedNodes.get()).values[0]?.value).toBe(TUNNELS);

    for (let i = 0; i < TUNNELS; i++) {
      hub.send(
        `cap-${i}`,
        newMessage({
          source: "edgecontroller",
          group: "resource",
          operation: "update",
          resource: "null/node/x",
        }),
      );
    }
    const deadline = Date.now() + 20_000;
    while (received.size < TUNNELS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(received.size).toBe(TUNNELS);
  }, 180_000);
});
