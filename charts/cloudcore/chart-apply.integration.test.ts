import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, describe, expect, inject, it } from "vitest";
import type { Cloudcore } from "../../cloudcore/cloudcore.js";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { joinCloud } from "../../edgecore/hub/join.js";
import {
  builtBinary,
  HELM_BIN_DIR,
  KUBERNETES_BIN_DIR,
  KUBERNETES_VERSION,
} from "../../scripts/env/binaries.js";
import { boundPod } from "../../test/bound-pod.js";
import { TestEdge } from "../../test/edge-agent.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { untilValue } from "../../test/until.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });
const run = promisify(execFile);
const chart = dirname(fileURLToPath(import.meta.url));
const kubeconfig = env.kubernetes?.kubeconfig ?? "";

/** Runs kubectl against the test apiserver with `input` on stdin. */
function kubectl(args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(builtBinary(KUBERNETES_BIN_DIR, "kubectl"), [...args], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`kubectl ${args.join(" ")}: exit ${code}: ${err}${out}`)),
    );
    child.stdin.end(input);
  });
}

describe("the chart on the real apiserver", () => {
  const suffix = randomBytes(3).toString("hex");
  const namespace = `ef-chart-${suffix}`;
  const release = `c${suffix}`;
  const label = `chart-${suffix}`;
  const work = mkdtempSync(join(tmpdir(), "edgefleet-chart-"));
  let cloudcore: Cloudcore | undefined;
  let edge: TestEdge | undefined;
  let rest: KubeRest | undefined;

  afterAll(async () => {
    await edge?.close();
    await cloudcore?.close();
    await rest?.request("delete", `/api/v1/nodes/edge-${label}`).catch(() => undefined);
    rest?.close();
    await kubectl(["delete", "namespace", namespace, "--wait=false"]).catch(() => undefined);
    await kubectl([
      "delete",
      "clusterrole,clusterrolebinding",
      "-l",
      `app.kubernetes.io/instance=${release}`,
    ]).catch(() => undefined);
    await kubectl([
      "-n",
      "kube-node-lease",
      "delete",
      "role,rolebinding",
      "-l",
      `app.kubernetes.io/instance=${release}`,
    ]).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }, 60_000);

  it("is accepted by server-side apply, and cloudcore runs with the chart's ServiceAccount token alone", async () => {
    const { stdout: rendered } = await run(builtBinary(HELM_BIN_DIR, "helm"), [
      "template",
      release,
      chart,
      "--namespace",
      namespace,
      "--kube-version",
      KUBERNETES_VERSION,
      "--values",
      join(chart, "ci/default-values.yaml"),
      // The device CRDs, as `helm install` applies them (shared with other tests: never deleted).
      "--include-crds",
      // The Deployment's pods must not land on edge nodes of this or another test: none matches.
      "--set",
      "nodeSelector.edgefleet\\.io/chart-test=nowhere",
    ]);
    await kubectl(["create", "namespace", namespace]);
    // The CRDs are cluster-wide, and the other tests' cloudcores (managing their CRDs) wrote them
    // first on this shared apiserver: take their fields over, as an installer that owns them would.
    const applied = await kubectl(
      ["apply", "--server-side", "--force-conflicts", "--field-manager=helm-test", "-f", "-"],
      rendered,
    );
    for (const kind of [
      "customresourcedefinition.apiextensions.k8s.io",
      "deployment.apps",
      "daemonset.apps",
      "clusterrole.rbac.authorization.k8s.io",
      "role.rbac.authorization.k8s.io",
      "serviceaccount",
      "service",
      "poddisruptionbudget.policy",
    ])
      expect(applied).toContain(`${kind}/`);

    await kubectl([
      "wait",
      "--for=condition=Established",
      "--timeout=30s",
      "crd/devices.devices.kubeedge.io",
      "crd/devicemodels.devices.kubeedge.io",
      "crd/devicestatuses.devices.kubeedge.io",
    ]);

    // A kubeconfig holding nothing but the ServiceAccount's token.
    const token = (
      await kubectl(["-n", namespace, "create", "token", `${release}-cloudcore`, "--duration=1h"])
    ).trim();
    const admin = new KubeConfig();
    admin.loadFromFile(kubeconfig);
    const cluster = admin.getCurrentCluster();
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: "test", server: cluster?.server ?? "", caData: cluster?.caData }],
      users: [{ name: "cloudcore", token }],
      contexts: [{ name: "sa", cluster: "test", user: "cloudcore" }],
      currentContext: "sa",
    });
    rest = await KubeRest.create(admin);
    cloudcore = await startTestCloudcore(kc, env.redis?.url ?? "", {
      logger: log,
      namespace,
      edgeNodeSelector: `edgefleet.io/test=${label}`,
      deviceWebhook: { port: 0 },
      cluster: { replicaId: `${release}-0`, rebalanceIntervalMs: 0 },
    });
    // Its CA and join tokens in its namespace; a node that registers, renews its Lease, runs a pod.
    const { token: joinToken } = await cloudcore.tokens.create({
      ttlSeconds: 600,
      description: "chart test",
    });
    const node = `edge-${label}`;
    const creds = await joinCloud({
      server: `127.0.0.1:${cloudcore.certificates.port}`,
      token: joinToken,
      nodeName: node,
      certDir: join(work, "certs"),
    });
    edge = new TestEdge(node, `127.0.0.1:${cloudcore.hub.port}`, creds, log, {
      labels: { "edgefleet.io/test": label },
    });
    await edge.start();
    await edge.register();
    await untilValue("the node Ready with its Lease", 30_000, async () => {
      const n = await rest?.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        `/api/v1/nodes/${node}`,
      );
      const lease = await rest
        ?.get(`/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${node}`)
        .catch(() => undefined);
      return n?.status?.conditions?.find((c) => c.type === "Ready")?.status === "True" && lease
        ? true
        : undefined;
    });
    await untilValue("the namespace's default service account", 30_000, async () =>
      rest?.get(`/api/v1/namespaces/${namespace}/serviceaccounts/default`).then(
        () => true,
        () => undefined,
      ),
    );
    await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, { body: boundPod("app", node) });
    await untilValue("the pod Running (its status written with the token)", 30_000, async () => {
      const p = await rest?.get<{ status?: { phase?: string } }>(`/api/v1/namespaces/${namespace}/pods/app`);
      return p?.status?.phase === "Running" ? true : undefined;
    });
    expect(readFileSync(join(work, "certs", "node.crt"), "utf8")).toContain("BEGIN CERTIFICATE");
    // Least privilege: what cloudcore never does, its account may not do.
    const sa = `system:serviceaccount:${namespace}:${release}-cloudcore`;
    const canI = (...args: string[]): Promise<string> =>
      kubectl(["auth", "can-i", ...args, "--as", sa]).then(
        (out) => out.trim(),
        (err: Error) => (/\bno\s*$/.test(err.message) ? "no" : err.message),
      );
    for (const denied of [
      ["create", "namespaces"],
      ["delete", "nodes"],
      ["create", "pods"],
      ["update", "secrets", "-n", "default"],
      ["create", "clusterrolebindings"],
      ["delete", "customresourcedefinitions"],
      ["update", "customresourcedefinitions/other.example.com"],
    ])
      expect(await canI(...denied), denied.join(" ")).toBe("no");
    expect(await canI("create", "secrets", "-n", namespace)).toBe("yes");
    expect(await canI("update", "customresourcedefinitions/devices.devices.kubeedge.io")).toBe("yes");
  }, 120_000);
});
