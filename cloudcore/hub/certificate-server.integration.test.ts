import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import * as x509 from "@peculiar/x509";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { JoinError } from "../../edgecore/errors.js";
import { joinCloud, parseJoinToken } from "../../edgecore/hub/join.js";
import { CertificateAuthority, createNodeCsr, generateKeyPair, nodeNameOf } from "../../protocol/pki.js";
import { createCloudcoreMetrics, type CloudcoreMetrics } from "../metrics.js";
import { loadOrCreateCa } from "../security/ca-store.js";
import { JoinTokens } from "../security/join-tokens.js";
import { CertificateServer } from "./certificate-server.js";

const env = inject("env");

/** A raw certificate request, for the cases joinCloud itself would never send. */
function requestCert(
  port: number,
  ca: string,
  options: { headers: Record<string, string>; body: Buffer; cert?: string; key?: string },
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        path: "/edge.crt",
        method: "GET",
        ca,
        cert: options.cert,
        key: options.key,
        headers: { ...options.headers, "content-length": String(options.body.length) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

describe("certificate server and edge join", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const core = kc.makeApiClient(CoreV1Api);
  // Each run gets its own cloud namespace, so its CA and tokens are its own.
  const namespace = `edgefleet-join-${randomBytes(3).toString("hex")}`;
  const dirs: string[] = [];
  let ca: CertificateAuthority;
  let tokens: JoinTokens;
  let metrics: CloudcoreMetrics;
  let server: CertificateServer;
  let address: string;

  const certDir = (): string => {
    const dir = mkdtempSync(join(tmpdir(), "edgefleet-join-"));
    dirs.push(dir);
    return dir;
  };

  beforeAll(async () => {
    ca = await loadOrCreateCa(core, namespace);
    tokens = new JoinTokens(core, ca, { namespace });
    metrics = createCloudcoreMetrics();
    server = await CertificateServer.start({
      ca,
      tokens,
      metrics,
      host: "127.0.0.1",
      port: 0,
      advertise: { dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] },
      logger: pino({ level: "error" }),
    });
    address = `127.0.0.1:${server.port}`;
  });
  afterAll(async () => {
    await server.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
    await core.deleteNamespace({ name: namespace });
  });

  it("ca store - replicas share one CA: a second load returns the stored one", async () => {
    const again = await loadOrCreateCa(core, namespace);
    expect(await again.fingerprint()).toBe(await ca.fingerprint());
  });

  it("join - a valid token yields a node certificate signed by the cloud CA, stored on disk", async () => {
    const { token } = await tokens.create({ ttlSeconds: 600, description: "test" });
    const dir = certDir();
    const creds = await joinCloud({ server: address, token, nodeName: "edge-1", certDir: dir });
    const cert = new x509.X509Certificate(readFileSync(creds.certFile, "utf8"));
    expect(nodeNameOf(cert)).toBe("edge-1");
    expect(cert.subject).toContain("O=system:nodes");
    expect(await ca.issued(cert)).toBe(true);
    expect(readFileSync(creds.caFile, "utf8")).toBe(ca.certPem);
    expect(readFileSync(creds.keyFile, "utf8")).toContain("BEGIN PRIVATE KEY");
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    const issued = await metrics.joinAttempts.get();
    expect(issued.values.find((v) => v.labels.result === "issued")?.value).toBeGreaterThanOrEqual(1);
  });

  it("join - a token signed with another key is refused with the reason", async () => {
    const { token } = await tokens.create({ ttlSeconds: 600 });
    const { caHash, jwt } = parseJoinToken(token);
    const [h, p] = jwt.split(".");
    const forged = `${caHash}.${h}.${p}.${Buffer.from("not-the-signature").toString("base64url")}`;
    const error = await joinCloud({
      server: address,
      token: forged,
      nodeName: "edge-2",
      certDir: certDir(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JoinError);
    expect(error).toMatchObject({ status: 401 });
    expect((error as Error).message).toMatch(/token signature or format is invalid/);
  });

  it("join - an expired token is refused", async () => {
    const { token } = await tokens.create({ ttlSeconds: 1 });
    await new Promise((r) => setTimeout(r, 2100));
    const error = await joinCloud({ server: address, token, nodeName: "edge-3", certDir: certDir() }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ status: 401 });
    expect((error as Error).message).toMatch(/expired/);
  });

  it("join - a revoked token is refused even though its signature is good", async () => {
    const created = await tokens.create({ ttlSeconds: 600 });
    await tokens.revoke(created.id);
    const fresh = new JoinTokens(core, ca, { namespace });
    const server2 = await CertificateServer.start({
      ca,
      tokens: fresh,
      metrics: createCloudcoreMetrics(),
      host: "127.0.0.1",
      port: 0,
      advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
      logger: pino({ level: "error" }),
    });
    try {
      const error = await joinCloud({
        server: `127.0.0.1:${server2.port}`,
        token: created.token,
        nodeName: "edge-4",
        certDir: certDir(),
      }).catch((e: unknown) => e);
      expect(error).toMatchObject({ status: 401 });
      expect((error as Error).message).toMatch(/revoked/);
    } finally {
      await server2.close();
    }
  });

  it("join - a token whose CA hash is not the server's CA is refused before anything is sent", async () => {
    const { token } = await tokens.create({ ttlSeconds: 600 });
    const wrongHash = `${"0".repeat(64)}.${parseJoinToken(token).jwt}`;
    await expect(
      joinCloud({ server: address, token: wrongHash, nodeName: "edge-5", certDir: certDir() }),
    ).rejects.toThrow(/does not match the token's/);
  });

  it("csr - a CSR for another node than the NodeName header is refused", async () => {
    const { token } = await tokens.create({ ttlSeconds: 600 });
    const csr = Buffer.from(await createNodeCsr("someone-else", await generateKeyPair()));
    const res = await requestCert(server.port, ca.certPem, {
      headers: { authorization: `Bearer ${parseJoinToken(token).jwt}`, nodename: "edge-6" },
      body: csr,
    });
    expect(res.status).toBe(403);
    expect(res.text).toMatch(/CN=system:node:edge-6/);
  });

  it("csr - garbage instead of a CSR, and a bad node name, are refused as bad requests", async () => {
    const { token } = await tokens.create({ ttlSeconds: 600 });
    const auth = { authorization: `Bearer ${parseJoinToken(token).jwt}` };
    const garbage = await requestCert(server.port, ca.certPem, {
      headers: { ...auth, nodename: "edge-7" },
      body: Buffer.from("xx"),
    });
    expect(garbage.status).toBe(400);
    expect(garbage.text).toMatch(/PKCS#10/);
    const badName = await requestCert(server.port, ca.certPem, {
      headers: { ...auth, nodename: "Bad_Name" },
      body: Buffer.from("xx"),
    });
    expect(badName.status).toBe(400);
    expect(badName.text).toMatch(/not a valid node name/);
  });

  it("rotation - a node renews with its client certificate, but only for its own name", async () => {
    const { token } = await tokens.create({ ttlSeconds: 600 });
    const creds = await joinCloud({ server: address, token, nodeName: "edge-8", certDir: certDir() });
    const csrSelf = Buffer.from(await createNodeCsr("edge-8", await generateKeyPair()));
    const renewed = await requestCert(server.port, ca.certPem, {
      headers: { nodename: "edge-8" },
      body: csrSelf,
      cert: creds.certPem,
      key: creds.keyPem,
    });
    expect(renewed.status).toBe(200);
    const csrOther = Buffer.from(await createNodeCsr("edge-9", await generateKeyPair()));
    const stolen = await requestCert(server.port, ca.certPem, {
      headers: { nodename: "edge-9" },
      body: csrOther,
      cert: creds.certPem,
      key: creds.keyPem,
    });
    expect(stolen.status).toBe(403);
    expect(stolen.text).toMatch(/client certificate is for node edge-8, not edge-9/);
  });

  it("rotation - a client certificate from another CA gives no identity", async () => {
    const otherCa = await CertificateAuthority.create("other");
    const foreign = await otherCa.issue({
      subject: "O=system:nodes, CN=system:node:edge-10",
      usage: "client",
    });
    const csr = Buffer.from(await createNodeCsr("edge-10", await generateKeyPair()));
    const res = await requestCert(server.port, ca.certPem, {
      headers: { nodename: "edge-10" },
      body: csr,
      cert: foreign.certPem,
      key: foreign.keyPem,
    });
    expect(res.status).toBe(401);
    expect(res.text).toMatch(/no join token/);
  });
});
