/**
 * The real edge node's part of the main job: a Deployment pinned to it (the scheduler places it,
 * edgecore runs it on containerd), and its log read back with `kubectl logs` through the
 * apiserver, which reaches the node's kubelet address through the DNAT to the owning replica.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { KubeApiError, type KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { BUSYBOX_IMAGE } from "../env/busybox-image.js";
import { builtBinary, KUBERNETES_BIN_DIR } from "../env/binaries.js";

const run = promisify(execFile);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const EDGE_NAMESPACE = "edgefleet-demo";
export const EDGE_DEPLOYMENT = "hello-edge";

interface PodJson {
  metadata?: { name?: string; creationTimestamp?: string };
  status?: { phase?: string };
}

/** Creates the namespace (if missing) and the Deployment pinned to `nodeName`. */
export async function createEdgeDeployment(rest: KubeRest, nodeName: string): Promise<void> {
  await rest
    .request("create", "/api/v1/namespaces", { body: { metadata: { name: EDGE_NAMESPACE } } })
    .catch((err: unknown) => {
      if (!(err instanceof KubeApiError && err.statusCode === 409)) throw err;
    });
  await rest.request("create", `/apis/apps/v1/namespaces/${EDGE_NAMESPACE}/deployments`, {
    body: {
      metadata: { name: EDGE_DEPLOYMENT },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: EDGE_DEPLOYMENT } },
        template: {
          metadata: { labels: { app: EDGE_DEPLOYMENT } },
          spec: {
            nodeSelector: { "kubernetes.io/hostname": nodeName },
            automountServiceAccountToken: false,
            terminationGracePeriodSeconds: 1,
            containers: [
              {
                name: "hello",
                image: BUSYBOX_IMAGE,
                command: [
                  "sh",
                  "-c",
                  'echo "hello from $(hostname), a pod on edge node ' +
                    nodeName +
                    '"; i=0; while true; do i=$((i+1)); echo "tick $i"; sleep 2; done',
                ],
              },
            ],
          },
        },
      },
    },
  });
}

/** Waits until the Deployment's pod is Running; resolves to its name. */
export async function waitForEdgePod(
  rest: KubeRest,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = "no pod yet";
  for (;;) {
    signal?.throwIfAborted();
    const pods = await rest.list<PodJson & { metadata: { resourceVersion?: string } }>(
      `/api/v1/namespaces/${EDGE_NAMESPACE}/pods`,
      { labelSelector: `app=${EDGE_DEPLOYMENT}` },
    );
    const running = pods.items.find((p) => p.status?.phase === "Running");
    if (running?.metadata?.name) return running.metadata.name;
    last = pods.items.map((p) => `${p.metadata?.name} ${p.status?.phase ?? "?"}`).join(", ") || last;
    if (Date.now() > deadline)
      throw new Error(`the edge pod is not Running after ${timeoutMs / 1000} s (${last})`);
    await sleep(500);
  }
}

/**
 * `kubectl logs --tail=<n>` (-1: all) of the edge pod, through the apiserver whose kubelet connections are
 * DNAT-ed. Retried for a while: right after a handover the rules and the serving certificate of
 * the new owner take a moment to follow.
 */
export async function kubectlLogs(
  kubeconfig: string,
  pod: string,
  tail: number,
  timeoutMs: number,
): Promise<{ lines: string[]; attempts: number; command: string }> {
  const kubectl = builtBinary(KUBERNETES_BIN_DIR, "kubectl");
  const tailFlag = tail >= 0 ? [`--tail=${tail}`] : [];
  const args = ["--kubeconfig", kubeconfig, "logs", "-n", EDGE_NAMESPACE, pod, ...tailFlag];
  const command = ["kubectl logs -n", EDGE_NAMESPACE, pod, ...tailFlag].join(" ");
  const deadline = Date.now() + timeoutMs;
  for (let attempts = 1; ; attempts++) {
    try {
      const { stdout } = await run(kubectl, args, { timeout: 15_000 });
      const lines = stdout.split("\n").filter((l) => l !== "");
      if (lines.length > 0) return { lines, attempts, command };
    } catch (err) {
      if (Date.now() > deadline)
        throw new Error(
          `${command} failed ${attempts} times; last: ${(err as { stderr?: string }).stderr ?? (err as Error).message}`,
        );
    }
    if (Date.now() > deadline) throw new Error(`${command} returned nothing for ${timeoutMs / 1000} s`);
    await sleep(1000);
  }
}
