import { pino } from "pino";
import { until } from "../../test/until.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EdgeHub } from "../../edgecore/hub/edgehub.js";
import { newMessage, responseTo, type Message } from "../../protocol/message.js";
import { CertificateAuthority } from "../../protocol/pki.js";
import { createCloudcoreMetrics } from "../metrics.js";
import { CloudHub } from "./cloudhub.js";
import { CloseCode } from "./tunnel-connection.js";

const quiet = pino({ level: "silent" });
const update = (name: string, rv: string): Message =>
  newMessage({
    source: "edgecontroller",
    group: "resource",
    operation: "update",
    resource: `default/configmap/${name}`,
    resourceVersion: rv,
    content: { kind: "ConfigMap", metadata: { name, resourceVersion: rv } },
  });
const label = (m: Message): string => `${m.route.resource?.split("/")[2]}@${m.header.resourceversion}`;

/** Resolves the next time `edge` (re)connects. */
function nextConnected(edge: EdgeHub): Promise<void> {
  return new Promise((resolve) => {
    const off = edge.onStatus((s) => {
      if (s.type === "connected") {
        off();
        resolve();
      }
    });
  });
}

describe("reliable delivery over the tunnel", () => {
  let hub: CloudHub;
  let edge: EdgeHub;
  let credentials: { caPem: string; certPem: string; keyPem: string };
  const received: Message[] = [];

  beforeAll(async () => {
    const ca = await CertificateAuthority.create("KubeEdge");
    hub = await CloudHub.start({
      ca,
      metrics: createCloudcoreMetrics(),
      host: "127.0.0.1",
      port: 0,
      kubeedgePort: null,
      advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
      ackTimeoutMs: 60_000,
      logger: quiet,
    });
    const cert = await ca.issue({ subject: "O=system:nodes, CN=system:node:edge-rel", usage: "client" });
    credentials = { caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem };
    edge = new EdgeHub({
      server: `127.0.0.1:${hub.port}`,
      nodeName: "edge-rel",
      credentials,
      logger: quiet,
      backoff: { initialMs: 20, maxMs: 50 },
    });
    edge.onMessage((m) => received.push(m));
    edge.start();
    await edge.connected();
  });
  afterAll(async () => {
    await edge.close();
    await hub.close();
  });

  it("keeps per-object order, redelivers unacked messages after a forced disconnect, and never resends acked versions", async () => {
    const ack = (m: Message): boolean => edge.send(responseTo(m, "OK"));
    await hub.deliver("edge-rel", update("a", "1"));
    await hub.deliver("edge-rel", update("b", "1"));
    await until("a@1 and b@1", () => received.length === 2, 5000);
    expect(received.map(label)).toEqual(["a@1", "b@1"]);
    ack(received[0] as Message);
    await until("a@1 acked", () => hub.delivery.pending("edge-rel") === 1, 5000);

    await hub.deliver("edge-rel", update("a", "2"));
    await until("a@2", () => received.length === 3, 5000);
    expect(label(received[2] as Message)).toBe("a@2");
    // b@1 is unacked: b@2 must wait behind it, never overtake it.
    await hub.deliver("edge-rel", update("b", "2"));
    await new Promise((r) => setTimeout(r, 200));
    expect(received.map(label)).toEqual(["a@1", "b@1", "a@2"]);

    // Cut the tunnel; edgehub reconnects by itself.
    const reconnected = nextConnected(edge);
    hub.sessions.get("edge-rel")?.close(CloseCode.ProtocolError, "test cuts the tunnel");
    await reconnected;
    await until("redelivery", () => received.length === 5, 5000);
    // a@2 was unacked: sent again. b@2 superseded the unacked b@1. a@1 was acked: never again.
    // (Order holds per object; across objects, in-flight messages keep their send order.)
    expect(received.slice(3).map(label).sort()).toEqual(["a@2", "b@2"]);
    for (const m of received.slice(3)) ack(m);
    await until("all acked", () => hub.delivery.pending("edge-rel") === 0, 5000);

    await hub.deliver("edge-rel", update("a", "2"));
    await hub.deliver("edge-rel", update("b", "1"));
    await new Promise((r) => setTimeout(r, 200));
    expect(received).toHaveLength(5);
    expect(hub.delivery.pending("edge-rel")).toBe(0);
  });

  it("upstream - a request unanswered when the tunnel drops is sent again on reconnect and resolves", async () => {
    const seen: string[] = [];
    let answer = false;
    hub.setHandlers({
      onMessage: (session, m) => {
        seen.push(m.header.msg_id);
        if (answer) session.send(responseTo(m, { Object: { kind: "Node" }, Err: null }));
      },
    });
    const patch = newMessage({
      source: "edged",
      group: "meta",
      operation: "patch",
      resource: "null/nodepatch/edge-rel",
      content: "{}",
    });
    const response = edge.request(patch, 10_000);
    await until("request seen", () => seen.length === 1, 5000);
    answer = true;
    const reconnected = nextConnected(edge);
    hub.sessions.get("edge-rel")?.close(CloseCode.ProtocolError, "test cuts the tunnel");
    await reconnected;
    const reply = await response;
    expect(reply.header.parent_msg_id).toBe(patch.header.msg_id);
    expect(reply.content).toEqual({ Object: { kind: "Node" }, Err: null });
    expect(seen).toEqual([patch.header.msg_id, patch.header.msg_id]);
    expect(edge.pendingRequests).toBe(0);
    hub.setHandlers({});
  });

  it("upstream - a request without a response times out with a typed error", async () => {
    const query = newMessage({
      source: "edged",
      group: "meta",
      operation: "query",
      resource: "default/configmap/none",
    });
    await expect(edge.request(query, 200)).rejects.toMatchObject({ code: "EF_ERR_REQUEST_TIMEOUT" });
    expect(edge.pendingRequests).toBe(0);
  });

  it("messages for an offline node wait and are delivered when it connects", async () => {
    await edge.close();
    const before = received.length;
    await hub.deliver("edge-rel", update("c", "1"));
    expect(hub.delivery.pending("edge-rel")).toBe(1);
    edge = new EdgeHub({
      server: `127.0.0.1:${hub.port}`,
      nodeName: "edge-rel",
      credentials,
      logger: quiet,
    });
    edge.onMessage((m) => received.push(m));
    edge.start();
    await edge.connected();
    await until("c@1", () => received.length === before + 1, 5000);
    expect(label(received[before] as Message)).toBe("c@1");
  });
});
