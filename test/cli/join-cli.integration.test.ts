import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import * as x509 from "@peculiar/x509";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { CertificateServer } from "../../cloudcore/hub/certificate-server.js";
import { CloudHub } from "../../cloudcore/hub/cloudhub.js";
import { createCloudcoreMetrics } from "../../cloudcore/metrics.js";
import { loadOrCreateCa } from "../../cloudcore/security/ca-store.js";
import { JoinTokens } from "../../cloudcore/security/join-tokens.js";
import { nodeNameOf } from "../../protocol/pki.js";

const env = inject("env");
const TSX = join(process.cwd(), "node_modules", ".bin", "tsx");

function run(
  script: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(TSX, [script, ...args], { encoding: "utf8", timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe("cloudcore token / edgecore join CLIs", () => {
  const kubeconfig = env.kubernetes?.kubeconfig ?? "";
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = `edgefleet-cli-${randomBytes(3).toString("hex")}`;
  const certDir = mkdtempSync(join(tmpdir(), "edgefleet-cli-"));
  let server: CertificateServer;
  let hub: CloudHub;

  beforeAll(async () => {
    const ca = await loadOrCreateCa(core, namespace);
    server = await CertificateServer.start({
      ca,
      tokens: new JoinTokens(core, ca, { namespace }),
      metrics: createCloudcoreMetrics(),
      host: "127.0.0.1",
      port: 0,
      advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
      logger: pino({ level: "error" }),
    });
    hub = await CloudHub.start({
      ca,
      metrics: createCloudcoreMetrics(),
      host: "127.0.0.1",
      port: 0,
      kubeedgePort: null,
      advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
      logger: pino({ level: "error" }),
    });
  });
  afterAll(async () => {
    await hub.close();
    await server.close();
    rmSync(certDir, { recursive: true, force: true });
    await core.deleteNamespace({ name: namespace });
  });

  it("token create prints a token that edgecore join uses to obtain a certificate; list and revoke manage it", async () => {
    const created = await run("cloudcore/main.ts", [
      "token",
      "create",
      "--kubeconfig",
      kubeconfig,
      "--namespace",
      namespace,
      "--ttl",
      "1h",
      "--description",
      "cli test",
    ]);
    expect(created.stderr).toMatch(/expires at/);
    expect(created.code).toBe(0);
    const token = created.stdout.trim();
    expect(token).toMatch(/^[0-9a-f]{64}\.[\w-]+\.[\w-]+\.[\w-]+$/);

    const joined = await run("edgecore/main.ts", [
      "join",
      "--cloudcore",
      `127.0.0.1:${server.port}`,
      "--token",
      token,
      "--node-name",
      "cli-edge",
      "--cert-dir",
      certDir,
      "--tunnel",
      `127.0.0.1:${hub.port}`,
    ]);
    expect(joined.stderr).toMatch(/joined as cli-edge/);
    expect(joined.stderr).toMatch(/tunnel to 127\.0\.0\.1:\d+ is up with the new certificate/);
    expect(joined.code).toBe(0);
    expect(nodeNameOf(new x509.X509Certificate(readFileSync(join(certDir, "node.crt"), "utf8")))).toBe(
      "cli-edge",
    );

    const listed = await run("cloudcore/main.ts", [
      "token",
      "list",
      "--kubeconfig",
      kubeconfig,
      "--namespace",
      namespace,
    ]);
    const [id, , description] = listed.stdout.trim().split("\t");
    expect(description).toBe("cli test");
    const revoked = await run("cloudcore/main.ts", [
      "token",
      "revoke",
      id ?? "",
      "--kubeconfig",
      kubeconfig,
      "--namespace",
      namespace,
    ]);
    expect(revoked.code).toBe(0);
    const after = await run("cloudcore/main.ts", [
      "token",
      "list",
      "--kubeconfig",
      kubeconfig,
      "--namespace",
      namespace,
    ]);
    expect(after.stdout.trim()).toBe("");
  });

  it("bad flags are refused with a message naming the flag and exit code 1", async () => {
    // Independent process starts, side by side.
    const [badTtl, badNode, badToken] = await Promise.all([
      run("cloudcore/main.ts", ["token", "create", "--ttl", "soon"]),
      run("edgecore/main.ts", [
        "join",
        "--cloudcore",
        "127.0.0.1:1",
        "--token",
        "x",
        "--node-name",
        "Not_Valid",
      ]),
      run("edgecore/main.ts", ["join", "--cloudcore", "127.0.0.1:1", "--token", "x", "--node-name", "n1"]),
    ]);
    expect(badTtl.code).toBe(1);
    expect(badTtl.stderr).toMatch(/option '--ttl <duration>' argument 'soon' is invalid/);
    expect(badNode.code).toBe(1);
    expect(badNode.stderr).toMatch(/--node-name.*"Not_Valid" is not a valid node name/);
    expect(badToken.code).toBe(1);
    expect(badToken.stderr).toMatch(/token is not of the form/);
  });
});
