import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { EdgeHub } from "../../edgecore/hub/edgehub.js";
import { Group, Operation, Source } from "../../protocol/constants.js";
import { encodeMessage } from "../../protocol/encoder.js";
import { newMessage, responseTo, type Message } from "../../protocol/message.js";
import { CertificateAuthority, type IssuedCertificate } from "../../protocol/pki.js";
import { createTunnelAssertion } from "../../protocol/tunnel-assertion.js";
import { createCloudcoreMetrics, type CloudcoreMetrics } from "../metrics.js";
import { CloudHub } from "./cloudhub.js";
import type { NodeSession } from "./node-session.js";

const quiet = pino({ level: "silent" });

function nextEvent<T>(
  register: (resolve: (value: T) => void) => void,
  timeoutMs = 5000,
  what = "event",
): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
    register((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

describe("cloudhub tunnel (uWS listener) with edgehub", () => {
  let ca: CertificateAuthority;
  let metrics: CloudcoreMetrics;
  let hub: CloudHub;
  const nodes = new Map<string, IssuedCertificate>();
  const cleanups: (() => unknown)[] = [];

  const nodeCert = async (name: string): Promise<IssuedCertificate> => {
    let cert = nodes.get(name);
    if (!cert) {
      cert = await ca.issue({ subject: `O=system:nodes, CN=system:node:${name}`, usage: "client" });
      nodes.set(name, cert);
    }
    return cert;
  };

  const edge = async (name: string): Promise<EdgeHub> => {
    const cert = await nodeCert(name);
    const hubClient = new EdgeHub({
      server: `127.0.0.1:${hub.port}`,
      nodeName: name,
      credentials: { caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem },
      logger: quiet,
      keepaliveIntervalMs: 200,
      backoff: { initialMs: 50, maxMs: 200 },
    });
    cleanups.push(() => hubClient.close());
    hubClient.start();
    await hubClient.connected();
    return hubClient;
  };

  /**
   * A raw ws client, for misbehaving edges. It sends keepalives unless `silent`, so that on a loaded
   * machine the 1 s keepalive timeout only ever closes the tunnel the dead-peer test means to.
   */
  const rawSocket = async (
    name: string,
    options: {
      cert?: IssuedCertificate;
      claim?: string;
      authorization?: string | null;
      silent?: boolean;
    } = {},
  ): Promise<WebSocket> => {
    const cert = options.cert ?? (await nodeCert(name));
    const authorization =
      options.authorization === undefined
        ? `Bearer ${await createTunnelAssertion({ nodeName: options.claim ?? name, certPem: cert.certPem, keyPem: cert.keyPem })}`
        : options.authorization;
    const socket = new WebSocket(`wss://127.0.0.1:${hub.port}/`, {
      ca: ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      headers: authorization === null ? {} : { authorization },
      perMessageDeflate: false,
    });
    cleanups.push(() => socket.terminate());
    if (!options.silent) {
      const keepalive = newMessage({
        source: "websocket",
        group: "resource",
        operation: "keepalive",
        resource: "node",
        content: "ping",
      });
      const timer = setInterval(() => {
        if (socket.readyState === WebSocket.OPEN) socket.send(encodeMessage(keepalive));
      }, 200);
      cleanups.push(() => clearInterval(timer));
    }
    return socket;
  };

  const refusal = (socket: WebSocket): Promise<{ status: number; body: string } | { error: string }> =>
    new Promise((resolve) => {
      socket.on("unexpected-response", (_req, res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      });
      socket.on("error", (err) => resolve({ error: (err as NodeJS.ErrnoException).code ?? err.message }));
      socket.on("open", () => resolve({ error: "unexpectedly opened" }));
    });

  beforeAll(async () => {
    ca = await CertificateAuthority.create("KubeEdge");
    metrics = createCloudcoreMetrics();
    hub = await CloudHub.start({
      ca,
      metrics,
      host: "127.0.0.1",
      port: 0,
      kubeedgePort: 0,
      advertise: { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] },
      keepaliveTimeoutMs: 1000,
      logger: quiet,
    });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    hub.setHandlers({});
  });
  afterAll(() => hub.close());

  it("kubeedge door - a KubeEdge-style edge (node_id header, mutual TLS) gets a session and a round trip", async () => {
    const cert = await nodeCert("ke-edge");
    const connected = nextEvent<NodeSession>((r) => hub.setHandlers({ onConnect: r }));
    const keEdge = new EdgeHub({
      server: `127.0.0.1:${hub.kubeedgePort}`,
      nodeName: "ke-edge",
      cloud: "kubeedge",
      credentials: { caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem },
      logger: quiet,
      keepaliveIntervalMs: 200,
    });
    cleanups.push(() => keEdge.close());
    keEdge.start();
    await keEdge.connected();
    expect((await connected).nodeName).toBe("ke-edge");
    const toEdge = nextEvent<Message>((r) => keEdge.onMessage(r));
    hub.send(
      "ke-edge",
      newMessage({
        source: "edgecontroller",
        group: "resource",
        operation: "insert",
        resource: "default/pod/p",
      }),
    );
    expect((await toEdge).route.resource).toBe("default/pod/p");
  });

  it("kubeedge door - a node_id that is not the certificate's node, and a missing certificate, are refused", async () => {
    const cert = await nodeCert("ke-a");
    const url = `wss://127.0.0.1:${hub.kubeedgePort}/e632aba927ea4ac2b575ec1603d56f10/ke-b/events`;
    const spoof = new WebSocket(url, {
      ca: ca.certPem,
      cert: cert.certPem,
      key: cert.keyPem,
      headers: { node_id: "ke-b", project_id: "p", ConnectionUse: "msg" },
    });
    cleanups.push(() => spoof.terminate());
    expect(await refusal(spoof)).toEqual({
      status: 401,
      body: 'node_id header "ke-b" does not match the certificate\'s node ke-a\n',
    });
    const anonymous = new WebSocket(url, { ca: ca.certPem, headers: { node_id: "ke-b" } });
    cleanups.push(() => anonymous.terminate());
    expect(await refusal(anonymous)).toMatchObject({ error: expect.any(String) });
  });

  it("round trip - an edge message reaches the cloud and a cloud message reaches the edge", async () => {
    const connected = nextEvent<NodeSession>((r) => hub.setHandlers({ onConnect: r }), 5000, "connect");
    const edgeHub = await edge("edge-rt");
    expect((await connected).nodeName).toBe("edge-rt");

    const fromEdge = nextEvent<[string, Message]>((r) =>
      hub.setHandlers({ onMessage: (s, m) => r([s.nodeName, m]) }),
    );
    const patch = newMessage({
      source: Source.Edged,
      group: Group.Meta,
      operation: Operation.Patch,
      resource: "null/nodepatch/edge-rt",
      content: JSON.stringify({ status: { phase: "Running" } }),
    });
    expect(edgeHub.send(patch)).toBe(true);
    const [node, received] = await fromEdge;
    expect(node).toBe("edge-rt");
    expect(received).toEqual(patch);

    const toEdge = nextEvent<Message>((r) => edgeHub.onMessage(r));
    const insert = newMessage({
      source: Source.EdgeController,
      group: Group.Resource,
      operation: Operation.Insert,
      resource: "default/pod/nginx",
      resourceVersion: "42",
      content: { apiVersion: "v1", kind: "Pod", metadata: { name: "nginx" } },
    });
    expect(hub.send("edge-rt", insert)).toBe(true);
    expect(await toEdge).toEqual(insert);
    expect(hub.send("not-connected", insert)).toBe(false);
  });

  it("requests go out once - one made before the tunnel is up and one made as it opens (regression: both were sent twice)", async () => {
    const cert = await nodeCert("edge-once");
    const seen: string[] = [];
    hub.setHandlers({
      onMessage: (session, m) => {
        seen.push(m.header.msg_id);
        hub.send(session.nodeName, responseTo(m, "OK"));
      },
    });
    const edgeHub = new EdgeHub({
      server: `127.0.0.1:${hub.port}`,
      nodeName: "edge-once",
      credentials: { caPem: ca.certPem, certPem: cert.certPem, keyPem: cert.keyPem },
      logger: quiet,
      keepaliveIntervalMs: 200,
    });
    cleanups.push(() => edgeHub.close());
    const request = (): Message =>
      newMessage({
        source: Source.Edged,
        group: Group.Meta,
        operation: Operation.Insert,
        resource: "null/node/edge-once",
        content: {},
      });
    const early = request();
    const onOpen = request();
    const replies: Promise<Message>[] = [edgeHub.request(early)];
    // What an edge does on connect (register): request from inside the status listener.
    edgeHub.onStatus((status) => {
      if (status.type === "connected" && replies.length === 1) replies.push(edgeHub.request(onOpen));
    });
    edgeHub.start();
    await edgeHub.connected();
    await Promise.all(replies);
    await new Promise((r) => setTimeout(r, 300)); // a duplicate would arrive meanwhile
    expect(seen.filter((id) => id === early.header.msg_id)).toHaveLength(1);
    expect(seen.filter((id) => id === onOpen.header.msg_id)).toHaveLength(1);
  });

  it("ping - a WebSocket ping is answered by cloudhub, giving the tunnel's round trip", async () => {
    const edgeHub = await edge("edge-ping");
    const rtt = await edgeHub.ping(5000);
    expect(rtt).toBeGreaterThan(0);
    expect(rtt).toBeLessThan(5000);
  });

  it("auth - no credential, another CA's certificate and a claim for another node are refused with the reason", async () => {
    const none = await refusal(await rawSocket("edge-a", { authorization: null }));
    expect(none).toEqual({ status: 401, body: "no tunnel credential (Authorization: Bearer <assertion>)\n" });

    const foreign = await (
      await CertificateAuthority.create("other")
    ).issue({
      subject: "O=system:nodes, CN=system:node:edge-a",
      usage: "client",
    });
    // uWS checks a presented certificate against the CA during the handshake.
    const otherCa = await refusal(await rawSocket("edge-a", { cert: foreign }));
    expect(otherCa).toMatchObject({ error: expect.stringMatching(/UNKNOWN_CA|ECONNRESET|socket hang up/) });

    const mismatch = await refusal(await rawSocket("edge-a", { claim: "edge-b" }));
    expect(mismatch).toMatchObject({
      status: 401,
      body: expect.stringMatching(/claims node edge-b but its certificate is for edge-a/),
    });

    const refused = await metrics.tunnelAttempts.get();
    expect(
      refused.values.find((v) => v.labels.listener === "uws" && v.labels.result === "unauthorized")?.value,
    ).toBeGreaterThanOrEqual(2);
  });

  it("one tunnel per node - a second connection replaces the first (closed with 4000) and stays up (regression: ending the old socket inside the new upgrade broke the new one)", async () => {
    const events: string[] = [];
    hub.setHandlers({
      onConnect: (s) => events.push(`connect ${s.nodeName}`),
      onDisconnect: (s, code, reason) => events.push(`disconnect ${s.nodeName} ${code} ${reason}`),
    });
    const first = await rawSocket("edge-dup");
    await nextEvent<undefined>((r) => first.once("open", () => r(undefined)));
    const firstClosed = nextEvent<number>((r) => first.once("close", (code) => r(code)));
    const second = await rawSocket("edge-dup");
    await nextEvent<undefined>((r) => second.once("open", () => r(undefined)));
    expect(await firstClosed).toBe(4000);
    expect(hub.sessions.get("edge-dup"), events.join("; ")).toBeDefined();
    expect(hub.sessions.size).toBe(1);
  });

  it("dead peer - a tunnel that sends no keepalive is closed after the timeout (4001)", async () => {
    const silent = await rawSocket("edge-silent", { silent: true });
    await nextEvent<undefined>((r) => silent.once("open", () => r(undefined)));
    const code = await nextEvent<number>((r) => silent.once("close", (c) => r(c)), 5000, "keepalive close");
    expect(code).toBe(4001);
    expect(hub.sessions.get("edge-silent")).toBeUndefined();
  });

  it("keepalive - edgehub's keepalives keep its tunnel open past the timeout", async () => {
    await edge("edge-alive");
    await new Promise((r) => setTimeout(r, 2000));
    expect(hub.sessions.get("edge-alive")?.state.type).toBe("open");
  });

  it("bad frames are counted and dropped; the tunnel stays up", async () => {
    const socket = await rawSocket("edge-garbage");
    await nextEvent<undefined>((r) => socket.once("open", () => r(undefined)));
    const fromEdge = nextEvent<Message>((r) => hub.setHandlers({ onMessage: (_s, m) => r(m) }));
    socket.send("{not json");
    socket.send(JSON.stringify({ header: { timestamp: 1 } }));
    const good = newMessage({
      source: "edged",
      group: "meta",
      operation: "query",
      resource: "default/configmap/c",
    });
    socket.send(encodeMessage(good));
    expect((await fromEdge).header.msg_id).toBe(good.header.msg_id);
    const rejected = await metrics.rejectedFrames.get();
    const byCode = Object.fromEntries(rejected.values.map((v) => [v.labels.code, v.value]));
    expect(byCode["EF_ERR_FRAME_NOT_JSON"]).toBeGreaterThanOrEqual(1);
    expect(byCode["EF_ERR_FRAME_INVALID"]).toBeGreaterThanOrEqual(1);
  });

  it("a slow edge does not block other nodes: its frames wait in its own queue", async () => {
    const slow = await rawSocket("edge-slow", { silent: true });
    await nextEvent<undefined>((r) => slow.once("open", () => r(undefined)));
    // Stop reading: the kernel buffers fill, then uWS's, then cloudhub's per-node queue.
    (slow as unknown as { _socket: { pause(): void } })._socket.pause();
    const fast = await edge("edge-fast");
    const big = "x".repeat(64 * 1024);
    for (let i = 0; i < 400; i++) {
      hub.send(
        "edge-slow",
        newMessage({
          source: "edgecontroller",
          group: "resource",
          operation: "update",
          resource: `default/configmap/c${i}`,
          content: big,
        }),
      );
    }
    expect(hub.sessions.get("edge-slow")?.queuedFrames).toBeGreaterThan(0);
    const t0 = performance.now();
    const arrived = nextEvent<Message>((r) => fast.onMessage(r));
    hub.send(
      "edge-fast",
      newMessage({
        source: "edgecontroller",
        group: "resource",
        operation: "insert",
        resource: "default/pod/p",
      }),
    );
    expect((await arrived).route.resource).toBe("default/pod/p");
    expect(performance.now() - t0).toBeLessThan(500);
    // The slow node's frames are counted as waiting; the fast node's went out at once.
    expect((await metrics.queuedFrames.get()).values[0]?.value).toBeGreaterThan(0);
    const waits = await metrics.sendWait.get();
    expect(
      waits.values.find((v) => v.metricName === "edgefleet_tunnel_send_wait_seconds_count")?.value,
    ).toBeGreaterThan(0);
  });
});
