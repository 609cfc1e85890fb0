import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EdgeHub, type EdgeHubStatus } from "../../edgecore/hub/edgehub.js";
import { CertificateAuthority } from "../../protocol/pki.js";
import { until } from "../../test/until.js";
import { createCloudcoreMetrics } from "../metrics.js";
import { CloudHub } from "./cloudhub.js";

const quiet = pino({ level: "silent" });

describe("tunnel admission", () => {
  let ca: CertificateAuthority;
  let hub: CloudHub;
  const edges: EdgeHub[] = [];

  beforeAll(async () => {
    ca = await CertificateAuthority.create("KubeEdge");
    hub = await CloudHub.start({
      ca,
      metrics: createCloudcoreMetrics(),
      host: "127.0.0.1",
      port: 0,
      kubeedgePort: null,
      advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
      admission: { ratePerSecond: 2, burst: 1 },
      logger: quiet,
    });
  });
  afterAll(async () => {
    await Promise.all(edges.map((e) => e.close()));
    await hub.close();
  });

  const edge = async (name: string, statuses: EdgeHubStatus[]): Promise<EdgeHub> => {
    const cert = await ca.issue({ subject: `O=system:nodes, CN=system:node:${name}`, usage: "client" });
    const e = new EdgeHub({
      server: `127.0.0.1:${hub.port}`,
      nodeName: name,
      credentials: { caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem },
      logger: quiet,
      backoff: { initialMs: 100, maxMs: 400 },
    });
    e.onStatus((s) => statuses.push(s));
    edges.push(e);
    e.start();
    return e;
  };

  it("admits at the configured rate, tells the rest to retry later (4005), and they get in with backoff", async () => {
    const first: EdgeHubStatus[] = [];
    const second: EdgeHubStatus[] = [];
    const a = await edge("adm-a", first);
    const b = await edge("adm-b", second);
    await Promise.all([a.connected(), b.connected()]);
    await until("both admitted", () => hub.sessions.size === 2, 10_000);
    // One of them was refused first, with the close code and reason in its status.
    const refused = [...first, ...second].filter((s) => s.type === "waiting");
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]).toMatchObject({
      lastError: expect.stringMatching(/4005: admission rate exceeded; retry in \d+ ms/),
    });
  });
});
