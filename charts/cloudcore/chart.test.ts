import { execFile } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { builtBinary, HELM_BIN_DIR, KUBERNETES_VERSION } from "../../scripts/env/binaries.js";
import { CHART_CRDS_FILE, chartCrdsYaml } from "../../scripts/chart-crds.js";

const run = promisify(execFile);
const chart = dirname(fileURLToPath(import.meta.url));
const helm = (): string => builtBinary(HELM_BIN_DIR, "helm");

interface Manifest {
  kind: string;
  metadata: { name: string };
  spec?: Record<string, unknown>;
  rules?: { apiGroups: string[]; resources: string[]; resourceNames?: string[]; verbs: string[] }[];
}

/** `helm template` with these values files and --set flags; the documents, or helm's error text. */
async function render(
  valuesFiles: readonly string[],
  sets: readonly string[] = [],
  extraArgs: readonly string[] = [],
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
      ...extraArgs,
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

async function manifests(
  valuesFiles: readonly string[],
  sets: readonly string[] = [],
  extraArgs: readonly string[] = [],
): Promise<Manifest[]> {
  const result = await render(valuesFiles, sets, extraArgs);
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
    // The password is a mounted file: in no argument, no env variable, no URL.
    expect(container.args).toContain("--redis-url=rediss://redis-master.redis.svc:6380");
    expect(container.args).toContain("--redis-password-file=/etc/edgefleet/redis/password");
    expect(container.args).toContain("--kubeedge-port=0");
    expect(JSON.stringify(container.env ?? [])).not.toMatch(/REDIS|redis-auth/);
    const podSpec = (
      deployment?.spec as { template: { spec: { volumes: { name: string; secret?: unknown }[] } } }
    ).template.spec;
    expect(podSpec.volumes.find((v) => v.name === "redis-auth")?.secret).toEqual({
      secretName: "redis-auth",
      defaultMode: 0o440,
      items: [{ key: "redis-password", path: "password" }],
    });
    // The iptables-manager reads the same Secret the same way.
    const daemonSet = all.find((m) => m.kind === "DaemonSet") as
      (Manifest & { spec: { template: { spec: { containers: { args: string[] }[] } } } }) | undefined;
    expect(daemonSet?.spec.template.spec.containers[0]?.args).toEqual(
      expect.arrayContaining([
        "--redis-url=rediss://redis-master.redis.svc:6380",
        "--redis-password-file=/etc/edgefleet/redis/password",
      ]),
    );
    const pdb = all.find((m) => m.kind === "PodDisruptionBudget");
    expect(pdb?.spec?.["maxUnavailable"]).toBe(2);
  });

  it("renders a Sentinel group with its own password and a Redis CA as mounted files", async () => {
    const all = await manifests(
      ["ci/default-values.yaml"],
      [
        "redis.url=rediss+sentinel://s1:26379\\,s2:26379/mymaster",
        "redis.existingSecret=redis-auth",
        "redis.sentinelPasswordKey=sentinel-password",
        "redis.tls.caSecret=redis-ca",
      ],
    );
    const container = cloudcoreContainer(all);
    expect(container.args).toEqual(
      expect.arrayContaining([
        "--redis-url=rediss+sentinel://s1:26379,s2:26379/mymaster",
        "--redis-password-file=/etc/edgefleet/redis/password",
        "--redis-sentinel-password-file=/etc/edgefleet/redis/sentinel-password",
        "--redis-tls-ca-file=/etc/edgefleet/redis-ca/ca.crt",
      ]),
    );
    const volumes = (
      all.find((m) => m.kind === "Deployment")?.spec as {
        template: { spec: { volumes: { name: string; secret?: { items: unknown[] } }[] } };
      }
    ).template.spec.volumes;
    expect(volumes.find((v) => v.name === "redis-auth")?.secret?.items).toEqual([
      { key: "redis-password", path: "password" },
      { key: "sentinel-password", path: "sentinel-password" },
    ]);
    expect(volumes.find((v) => v.name === "redis-ca")?.secret?.items).toEqual([
      { key: "ca.crt", path: "ca.crt" },
    ]);
  });

  it.each([
    [["replicaCount=0"], "/replicaCount': minimum: got 0, want 1"],
    [["cloudcore.advertiseAddresses[0]=not-an-ip"], "/cloudcore/advertiseAddresses/0"],
    [["cloudcore.offlineGrace=soon"], "/cloudcore/offlineGrace': 'soon' does not match pattern"],
    [["cloudcore.logLevel=loud"], "/cloudcore/logLevel"],
    [["ports.tunnel=70000"], "/ports/tunnel': maximum: got 70,000, want 65,535"],
    [["redis.url=redis://:secret@redis:6379"], "/redis/url"],
    [["redis.url=redis://redis:6379?sentinelPassword=x"], "/redis/url"],
    [
      ["redis.url=redis+sentinel://sentinel:26379"],
      "/redis/url': 'redis+sentinel://sentinel:26379' does not match",
    ],
    [["redis.url=redis+cluster://node:6379/1"], "/redis/url': 'redis+cluster://node:6379/1' does not match"],
    [["redis.tls.caSecret=redis-ca"], "/redis/url': 'redis://redis:6379' does not match pattern '^rediss'"],
    [["redis.url=redis+sentinel://s:26379/m", "redis.sentinelPasswordKey=pw"], "/redis/existingSecret"],
    [["service.type=Ingress"], "/service/type"],
    [["replicas=3"], "additional properties 'replicas' not allowed"],
  ])("refuses %j with a message naming the value", async (sets, message) => {
    const result = await render(["ci/default-values.yaml"], sets);
    expect("error" in result && result.error).toContain(message);
  });

  it("renders a ServiceMonitor and the Grafana dashboards only when asked, each dashboard valid JSON", async () => {
    const byDefault = await manifests(["ci/default-values.yaml"]);
    expect(byDefault.some((m) => m.kind === "ServiceMonitor" || m.kind === "ConfigMap")).toBe(false);

    const all = await manifests(["ci/ha-values.yaml"]);
    const monitor = all.find((m) => m.kind === "ServiceMonitor") as
      (Manifest & { metadata: { labels: Record<string, string> } }) | undefined;
    expect(monitor?.metadata.labels["release"]).toBe("kube-prometheus-stack");
    const selector = (monitor?.spec?.["selector"] as { matchLabels: Record<string, string> }).matchLabels;
    // It selects the in-cluster Service (the one with the metrics port), not the edge-facing one.
    const selected = all.filter(
      (m) =>
        m.kind === "Service" &&
        Object.entries(selector).every(
          ([k, v]) => (m.metadata as { labels?: Record<string, string> }).labels?.[k] === v,
        ),
    );
    expect(selected.map((m) => m.metadata.name)).toEqual(["edge-cloudcore-internal"]);

    const files = readdirSync(join(chart, "dashboards")).filter((f) => f.endsWith(".json"));
    expect(files.length).toBeGreaterThan(0);
    const maps = all.filter((m) => m.kind === "ConfigMap") as (Manifest & {
      metadata: { namespace: string; labels: Record<string, string> };
      data: Record<string, string>;
    })[];
    expect(maps.length).toBe(files.length);
    for (const map of maps) {
      expect(map.metadata.namespace).toBe("monitoring");
      expect(map.metadata.labels["grafana_dashboard"]).toBe("1");
      for (const [file, text] of Object.entries(map.data)) {
        expect(files).toContain(file);
        const dashboard = JSON.parse(text) as { uid: string; panels: { targets: { expr: string }[] }[] };
        expect(dashboard.uid).toMatch(/^edgefleet-/);
        expect(dashboard.panels.flatMap((p) => p.targets.map((t) => t.expr)).every((e) => e.length > 0)).toBe(
          true,
        );
      }
    }
  });

  it("ships the device CRDs cloudcore installs itself, generated from the same definitions", async () => {
    expect(readFileSync(CHART_CRDS_FILE, "utf8"), "stale: run `npm run chart:crds`").toBe(chartCrdsYaml());
    const all = await manifests(["ci/default-values.yaml"], [], ["--include-crds"]);
    const crds = all.filter((m) => m.kind === "CustomResourceDefinition").map((m) => m.metadata.name);
    expect(crds.sort()).toEqual([
      "devicemodels.devices.kubeedge.io",
      "devices.devices.kubeedge.io",
      "devicestatuses.devices.kubeedge.io",
    ]);
  });

  it("with manageCrds false, cloudcore only waits for the CRDs and its account may only read those three", async () => {
    const crdRules = async (sets: string[]): Promise<{ resourceNames?: string[]; verbs: string[] }[]> => {
      const all = await manifests(["ci/default-values.yaml"], sets);
      const role = all.find((m) => m.kind === "ClusterRole");
      return (role?.rules ?? []).filter((r) => r.resources.includes("customresourcedefinitions"));
    };
    const names = [
      "devices.devices.kubeedge.io",
      "devicemodels.devices.kubeedge.io",
      "devicestatuses.devices.kubeedge.io",
    ];
    expect(await crdRules([])).toEqual([
      {
        apiGroups: ["apiextensions.k8s.io"],
        resources: ["customresourcedefinitions"],
        resourceNames: names,
        verbs: ["get", "update"],
      },
      { apiGroups: ["apiextensions.k8s.io"], resources: ["customresourcedefinitions"], verbs: ["create"] },
    ]);
    expect(await crdRules(["cloudcore.manageCrds=false"])).toEqual([
      {
        apiGroups: ["apiextensions.k8s.io"],
        resources: ["customresourcedefinitions"],
        resourceNames: names,
        verbs: ["get"],
      },
    ]);
    const container = cloudcoreContainer(
      await manifests(
        ["ci/default-values.yaml"],
        ["cloudcore.manageCrds=false", "cloudcore.deviceProtocols={modbus,opcua}"],
      ),
    );
    expect(container.args).toEqual(
      expect.arrayContaining(["--no-manage-crds", "--device-protocol=modbus", "--device-protocol=opcua"]),
    );
  });

  it("refuses to install without an address edges can dial", async () => {
    const result = await render([]);
    expect("error" in result && result.error).toContain("cloudcore.advertiseAddresses or cloudcore.dnsNames");
  });
});
