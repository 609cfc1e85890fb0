import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority, issueServingCertificate } from "../../protocol/pki.js";
import { KubeRest, PatchType, retriesOnStaleSocket } from "./kube-rest.js";

// The keep-alive race this covers: the apiserver closes an idle connection just as the client
// sends the next request into it. An HTTPS listener on loopback stands in for that one behaviour
// (resetting the second request on a kept-alive socket); everything else KubeRest does is tested
// against the real apiserver by the integration tests.
describe("KubeRest on a kept-alive socket the server reset", () => {
  let server: Server;
  let rest: KubeRest;
  const served: string[] = [];

  beforeAll(async () => {
    const ca = await CertificateAuthority.create("test CA");
    const serving = await issueServingCertificate(ca, { dnsNames: [], ipAddresses: ["127.0.0.1"] });
    const requestsOnSocket = new WeakMap<Socket, number>();
    server = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
      const n = (requestsOnSocket.get(req.socket) ?? 0) + 1;
      requestsOnSocket.set(req.socket, n);
      if (n === 2) {
        req.socket.destroy(); // the second request on a reused socket is never answered
        return;
      }
      served.push(`${req.method} ${req.url}`);
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ kind: "Lease", metadata: { name: "n" } }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
          caData: Buffer.from(ca.certPem).toString("base64"),
        },
      ],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    rest = await KubeRest.create(kc);
  });

  afterAll(async () => {
    rest.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("sends an idempotent PUT again on a fresh socket", async () => {
    served.length = 0;
    await rest.get("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n");
    const lease = await rest.request(
      "update",
      "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n",
      {
        body: { metadata: { name: "n" } },
      },
    );
    expect(lease.metadata?.name).toBe("n");
    expect(served).toEqual([
      "GET /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n",
      "PUT /apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n",
    ]);
  });

  it("does not send a create twice: the error reaches the caller", async () => {
    served.length = 0;
    rest.close(); // a fresh agent state: the next GET opens a socket, the POST reuses it
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: "c",
          server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    rest = await KubeRest.create(kc);
    await rest.get("/api/v1/namespaces/default/pods/p");
    await expect(
      rest.request("create", "/api/v1/namespaces/default/pods", { body: { metadata: { name: "q" } } }),
    ).rejects.toThrow(/POST \/api\/v1\/namespaces\/default\/pods: (socket hang up|read ECONNRESET)/);
    expect(served).toEqual(["GET /api/v1/namespaces/default/pods/p"]);
  });

  it("retries every verb but create and JSON patch", () => {
    expect(retriesOnStaleSocket("get", undefined)).toBe(true);
    expect(retriesOnStaleSocket("update", "application/json")).toBe(true);
    expect(retriesOnStaleSocket("delete", undefined)).toBe(true);
    expect(retriesOnStaleSocket("patch", PatchType.Merge)).toBe(true);
    expect(retriesOnStaleSocket("patch", PatchType.StrategicMerge)).toBe(true);
    expect(retriesOnStaleSocket("patch", PatchType.Json)).toBe(false);
    expect(retriesOnStaleSocket("create", "application/json")).toBe(false);
  });
});
