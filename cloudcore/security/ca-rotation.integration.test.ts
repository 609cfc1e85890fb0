import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, describe, expect, inject, it } from "vitest";
import { joinCloud } from "../../edgecore/hub/join.js";
import { JoinError } from "../../edgecore/errors.js";
import { TestEdge } from "../../test/edge-agent.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import type { Cloudcore } from "../cloudcore.js";
import { KubeRest } from "../kube/kube-rest.js";
import { CA_SECRET } from "./ca-store.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

// The procedure docs/operations.md gives for rotating the cloud CA: stop every replica, delete the
// CA Secret, start them (the first one creates a new CA), re-join each node with a new token.
describe("rotating the cloud CA", () => {
  const suffix = randomBytes(3).toString("hex");
  const namespace = `ef-ca-${suffix}`;
  const work = mkdtempSync(join(tmpdir(), "edgefleet-ca-rotation-"));
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  let rest: KubeRest | undefined;
  let cloudcore: Cloudcore | undefined;
  const edges: TestEdge[] = [];

  afterAll(async () => {
    for (const edge of edges) await edge.close();
    await cloudcore?.close();
    await rest?.request("delete", `/api/v1/nodes/edge-ca-${suffix}`).catch(() => undefined);
    await rest?.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rest?.close();
    rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it("refuses the old CA's node certificates and tokens, and a node re-joined with a new token connects", async () => {
    rest = await KubeRest.create(kc);
    await rest.request("create", "/api/v1/namespaces", { body: { metadata: { name: namespace } } });
    const start = (): Promise<Cloudcore> =>
      startTestCloudcore(kc, undefined, {
        logger: log,
        namespace,
        edgeNodeSelector: `edgefleet.io/ca-test=${suffix}`,
      });
    const node = `edge-ca-${suffix}`;

    cloudcore = await start();
    const { token: before } = await cloudcore.tokens.create({ ttlSeconds: 600, description: "before" });
    const { token: unused } = await cloudcore.tokens.create({ ttlSeconds: 600, description: "unused" });
    const oldCreds = await joinCloud({
      server: `127.0.0.1:${cloudcore.certificates.port}`,
      token: before,
      nodeName: node,
      certDir: join(work, "old"),
    });
    const first = new TestEdge(node, `127.0.0.1:${cloudcore.hub.port}`, oldCreds, log);
    edges.push(first);
    await first.start();
    await first.close();
    const oldCa = oldCreds.caPem;
    await cloudcore.close();
    cloudcore = undefined;

    // The rotation.
    await rest.request("delete", `/api/v1/namespaces/${namespace}/secrets/${CA_SECRET.name}`);
    cloudcore = await start();
    const server = `127.0.0.1:${cloudcore.certificates.port}`;

    // A token of the old CA pins the old CA's hash: the join refuses the new CA.
    await expect(
      joinCloud({ server, token: unused, nodeName: `${node}-x`, certDir: join(work, "stale") }),
    ).rejects.toBeInstanceOf(JoinError);

    // The node's old certificate and CA no longer make a tunnel.
    const stale = new TestEdge(node, `127.0.0.1:${cloudcore.hub.port}`, oldCreds, log);
    edges.push(stale);
    const connected = await Promise.race([stale.start().then(() => true), sleep(3000).then(() => false)]);
    expect(connected).toBe(false);
    await stale.close();

    // Re-joined with a new token, it connects and is served.
    const { token: after } = await cloudcore.tokens.create({ ttlSeconds: 600, description: "after" });
    const newCreds = await joinCloud({ server, token: after, nodeName: node, certDir: join(work, "new") });
    expect(newCreds.caPem).not.toBe(oldCa);
    const rejoined = new TestEdge(node, `127.0.0.1:${cloudcore.hub.port}`, newCreds, log, {
      labels: { "edgefleet.io/ca-test": suffix },
    });
    edges.push(rejoined);
    await rejoined.start();
    const reply = await rejoined.register();
    expect(reply.route.operation).not.toBe("error");
    const registered = await rest.get<{ metadata: { name: string } }>(`/api/v1/nodes/${node}`);
    expect(registered.metadata.name).toBe(node);
  }, 90_000);
});
