import { connect } from "node:net";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { CertificateAuthority } from "../../protocol/pki.js";
import { StreamServer } from "./stream-server.js";

describe("the stream server", () => {
  it("closes at once even while a client sits in its TLS handshake (regression: close waited for it)", async () => {
    const ca = await CertificateAuthority.create("test");
    const server = await StreamServer.start({
      ca,
      clientCaPem: ca.certPem,
      host: "127.0.0.1",
      port: 0,
      servingAddresses: () => ({ dnsNames: [], ipAddresses: ["127.0.0.1"] }),
      handle: () => undefined,
      log: pino({ level: "silent" }),
    });
    // A TCP connection that never starts its handshake: not yet an HTTP connection.
    const idle = connect({ host: "127.0.0.1", port: server.port });
    await new Promise<void>((resolve) => idle.once("connect", resolve));
    const closed = new Promise<void>((resolve) => idle.once("close", () => resolve()));
    const started = Date.now();
    await server.close();
    await closed;
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("re-issues its certificate only when the addresses it must cover change", async () => {
    const ca = await CertificateAuthority.create("test");
    let ips = ["127.0.0.1"];
    const server = await StreamServer.start({
      ca,
      clientCaPem: ca.certPem,
      host: "127.0.0.1",
      port: 0,
      servingAddresses: () => ({ dnsNames: [], ipAddresses: ips }),
      refreshIntervalMs: 60_000,
      handle: () => undefined,
      log: pino({ level: "silent" }),
    });
    try {
      expect(await server.refresh()).toBe(false);
      ips = ["127.0.0.1", "10.1.2.3", "127.0.0.1"];
      expect(await server.refresh()).toBe(true);
      ips = ["10.1.2.3", "127.0.0.1"];
      expect(await server.refresh()).toBe(false);
    } finally {
      await server.close();
    }
  });
});
