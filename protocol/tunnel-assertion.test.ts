import { importPKCS8, SignJWT } from "jose";
import * as x509 from "@peculiar/x509";
import { beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority, type IssuedCertificate } from "./pki.js";
import {
  createTunnelAssertion,
  ReplayCache,
  TUNNEL_AUDIENCE,
  TunnelAuthError,
  VerifiedCertificates,
  verifyTunnelAssertion,
} from "./tunnel-assertion.js";

describe("tunnel assertion", () => {
  let ca: CertificateAuthority;
  let node: IssuedCertificate;

  beforeAll(async () => {
    ca = await CertificateAuthority.create("KubeEdge");
    node = await ca.issue({ subject: "O=system:nodes, CN=system:node:edge-1", usage: "client" });
  });

  const verify = (jwt: string, replay = new ReplayCache(), now?: number): Promise<string> =>
    verifyTunnelAssertion(jwt, { ca, replay, ...(now === undefined ? {} : { now }) });

  it("proves the node named in a certificate issued by the cloud CA", async () => {
    const jwt = await createTunnelAssertion({
      nodeName: "edge-1",
      certPem: node.certPem,
      keyPem: node.keyPem,
    });
    expect(await verify(jwt)).toBe("edge-1");
  });

  it("refuses a replayed assertion", async () => {
    const jwt = await createTunnelAssertion({
      nodeName: "edge-1",
      certPem: node.certPem,
      keyPem: node.keyPem,
    });
    const replay = new ReplayCache();
    await verify(jwt, replay);
    await expect(verify(jwt, replay)).rejects.toThrow(/already used/);
  });

  it("refuses a certificate from another CA", async () => {
    const other = await (
      await CertificateAuthority.create("other")
    ).issue({
      subject: "O=system:nodes, CN=system:node:edge-1",
      usage: "client",
    });
    const jwt = await createTunnelAssertion({
      nodeName: "edge-1",
      certPem: other.certPem,
      keyPem: other.keyPem,
    });
    await expect(verify(jwt)).rejects.toThrow(/not issued by the cloud CA/);
  });

  it("refuses a claim for another node than the certificate's (header/cert name mismatch)", async () => {
    const jwt = await createTunnelAssertion({
      nodeName: "edge-2",
      certPem: node.certPem,
      keyPem: node.keyPem,
    });
    await expect(verify(jwt)).rejects.toThrow(/claims node edge-2 but its certificate is for edge-1/);
  });

  it("refuses an assertion signed by a key other than the certificate's", async () => {
    const thief = await ca.issue({ subject: "O=system:nodes, CN=system:node:edge-9", usage: "client" });
    const key = await importPKCS8(thief.keyPem, "ES256");
    const jwt = await new SignJWT({})
      .setProtectedHeader({
        alg: "ES256",
        x5c: [Buffer.from(new x509.X509Certificate(node.certPem).rawData).toString("base64")],
      })
      .setSubject("edge-1")
      .setAudience(TUNNEL_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("60s")
      .setJti("j1")
      .sign(key);
    await expect(verify(jwt)).rejects.toThrow(/does not verify/);
  });

  it("refuses an expired assertion and garbage", async () => {
    const old = Date.now() - 10 * 60_000;
    const jwt = await createTunnelAssertion({
      nodeName: "edge-1",
      certPem: node.certPem,
      keyPem: node.keyPem,
      now: old,
    });
    await expect(verify(jwt)).rejects.toBeInstanceOf(TunnelAuthError);
    await expect(verify("not.a.jwt")).rejects.toThrow(/not an ES256 JWT/);
  });

  it("refuses a certificate of the cloud CA that does not name a node", async () => {
    const server = await ca.issue({ subject: "CN=cloudcore", usage: "client" });
    const jwt = await createTunnelAssertion({
      nodeName: "cloudcore",
      certPem: server.certPem,
      keyPem: server.keyPem,
    });
    await expect(verify(jwt)).rejects.toThrow(/is not a node certificate/);
  });

  it("remembers a verified certificate: a reconnect is checked with its key and validity, and still refused once it expired", async () => {
    const certificates = new VerifiedCertificates();
    const assertion = (now?: number): Promise<string> =>
      createTunnelAssertion({
        nodeName: "edge-1",
        certPem: node.certPem,
        keyPem: node.keyPem,
        ...(now && { now }),
      });
    const replay = new ReplayCache();
    expect(await verifyTunnelAssertion(await assertion(), { ca, replay, certificates })).toBe("edge-1");
    expect(certificates.size).toBe(1);
    // Another CA would refuse the certificate: the second upgrade did not check it again.
    const other = await CertificateAuthority.create("other");
    expect(await verifyTunnelAssertion(await assertion(), { ca: other, replay, certificates })).toBe(
      "edge-1",
    );
    // Past the certificate's notAfter the cached entry does not help.
    const later = Date.parse(new x509.X509Certificate(node.certPem).notAfter.toISOString()) + 60_000;
    await expect(
      verifyTunnelAssertion(await assertion(later), { ca, replay, certificates, now: later }),
    ).rejects.toThrow(/not valid now/);
  });

  it("keeps at most its bound of certificates, dropping the oldest", () => {
    const certificates = new VerifiedCertificates(2);
    const entry = { nodeName: "n", key: ca.native.publicKey, notBefore: 0, notAfter: 1 };
    certificates.set("a", entry);
    certificates.set("b", entry);
    certificates.set("c", entry);
    expect([certificates.get("a"), certificates.size]).toEqual([undefined, 2]);
  });
});
