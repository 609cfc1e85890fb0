import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { builtBinary, HELM_BIN_DIR, KUBERNETES_VERSION } from "../../scripts/env/binaries.js";

const run = promisify(execFile);
const chart = dirname(fileURLToPath(import.meta.url));
const helm = (): string => builtBinary(HELM_BIN_DIR, "helm");

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
}

/** `helm template` with these values files and --set flags; the documents, or helm's error text. */
async function render(
  valuesFiles: readonly string[],
  sets: readonly string[] = [],
): Promise<{ manifests: Manifest[] } | { error: string }> {
  try {
    const { stdout } = await run(helm(), [
      "template",
      "edge",
      chart,
      "--namespace",
      "kubeedge",
      "--kube-version",
      KUBERNETES_VERSION,
      ...valuesFiles.flatMap((f) => ["--values", join(chart, f)]),
      ...sets.flatMap((s) => ["--set", s]),
    ]);
    return {
      manifests: parseAllDocuments(stdout)
        .map((d) => d.toJSON() as Manifest | null)
        .filter((m): m is Manifest => m !== null),
    };
  } catch (err) {
    return { error: (err as { stderr?: string }).stderr ?? String(err) };
  }
}

async function manifests(valuesFiles: readonly string[], sets: readonly string[] = []): Promise<Manifest[]> {
  const result = await render(valuesFiles, sets);
  if ("error" in result) throw new Error(result.error);
  return result.manifests;
}

interface Container {
  args: string[];
  env?: { name: string }[];
  securityContext: Record<string, unknown>;
  readinessProbe: { httpGet: { path: string } };
}

function cloudcoreContainer(all: Manifest[]): Container {
  const deployment = all.find((m) => m.kind === "Deployment");
  const spec = deployment?.spec as { template: { spec: { containers: Container[] } } } | undefined;
  const container = spec?.template.spec.containers[0];
  if (!container) throw new Error("no cloudcore container rendered");
  return container;
}

describe("the cloudcore Helm chart", () => {
  it("passes helm lint with the default and the HA values", async () => {
    for (const values of ["ci/default-values.yaml", "ci/ha-values.yaml"]) {
      const { stdout } = await run(helm(), [
        "lint",
        chart,
        "--values",
        join(chart, values),
        "--kube-version",
        KUBERNETES_VERSION,
      ]);
      expect(stdout).toContain("1 chart(s) linted, 0 chart(s) failed");
    }
  }, 60_000);

  it("renders three replicas that find each other through Redis, non-root on a read-only root, ready only when synced", async () => {
    const all = await manifests(["ci/default-values.yaml"]);
    expect(all.map((m) => m.kind).sort()).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "DaemonSet",
      "Deployment",
      "PodDisruptionBudget",
      "Role",
      "Role",
      "RoleBinding",
      "RoleBinding",
      "Service",
      "Service",
      "ServiceAccount",
    ]);
    const deployment = all.find((m) => m.kind === "Deployment");
    expect(deployment?.spec?.["replicas"]).toBe(3);
    const container = cloudcoreContainer(all);
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--replica-id=$(POD_NAME)",
        "--replica-address=$(POD_IP)",
        "--redis-url=redis://redis:6379",
        "--advertise-address=203.0.113.10",
        "--stream-port=10003",
        "--namespace=kubeedge",
        "--device-webhook-url=https://edge-cloudcore-internal.kubeedge.svc:10005/validate/devices",
      ]),
    );
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(container.readinessProbe.httpGet.path).toBe("/readyz");
    const edgeService = all.find((m) => m.kind === "Service" && m.metadata.name === "edge-cloudcore");
    expect(edgeService?.spec?.["type"]).toBe("LoadBalancer");
    expect((edgeService?.spec?.["ports"] as { port: number }[]).map((p) => p.port)).toEqual([
      10000, 10010, 10002, 10003,
    ]);
  });

  it("renders the HA values: hard anti-affinity, Redis over TLS with the password from a Secret, no KubeEdge door", async () => {
    const all = await manifests(["ci/ha-values.yaml"]);
    const deployment = all.find((m) => m.kind === "Deployment");
    expect(deployment?.spec?.["replicas"]).toBe(5);
    const pod = (
      deployment?.spec as { template: { spec: { affinity: { podAntiAffinity: Record<string, unknown> } } } }
    ).template.spec;
    expect(Object.keys(pod.affinity.podAntiAffinity)).toEqual([
      "requiredDuringSchedulingIgnoredDuringExecution",
    ]);
    const container = cloudcoreContainer(all);
    expect(container.args).toContain("--redis-url=rediss://:$(REDIS_PASSWORD)@redis-master.redis.svc:6380");
    expect(container.args).toContain("--kubeedge-port=0");
    expect(container.env?.map((e) => e.name)).toContain("REDIS_PASSWORD");
    const pdb = all.find((m) => m.kind === "PodDisruptionBudget");
    expect(pdb?.spec?.["maxUnavailable"]).toBe(2);
  });

  it.each([
    [["replicaCount=0"], "/replicaCount': minimum: got 0, want 1"],
    [["cloudcore.advertiseAddresses[0]=not-an-ip"], "/cloudcore/advertiseAddresses/0"],
    [["cloudcore.offlineGrace=soon"], "/cloudcore/offlineGrace': 'soon' does not match pattern"],
    [["cloudcore.logLevel=loud"], "/cloudcore/logLevel"],
    [["ports.tunnel=70000"], "/ports/tunnel': maximum: got 70,000, want 65,535"],
    [["redis.url=redis://:secret@redis:6379"], "/redis/url"],
    [["service.type=Ingress"], "/service/type"],
    [["replicas=3"], "additional properties 'replicas' not allowed"],
  ])("refuses %j with a message naming the value", async (sets, message) => {
    const result = await render(["ci/default-values.yaml"], sets);
    expect("error" in result && result.error).toContain(message);
  });

  it("refuses to install without an address edges can dial", async () => {
    const result = await render([]);
    expect("error" in result && result.error).toContain("cloudcore.advertiseAddresses or cloudcore.dnsNames");
  });
});
