import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { Cloudcore } from "../cloudcore/cloudcore.js";
import { KubeRest } from "../cloudcore/kube/kube-rest.js";
import { builtBinary, KUBERNETES_BIN_DIR, systemBinary } from "../scripts/env/binaries.js";
import { BUSYBOX_IMAGE } from "../scripts/env/busybox-image.js";
import { runCommand } from "../scripts/env/run-command.js";
import { startTestCloudcore } from "../test/test-cloudcore.js";
import { joinTestNode, removeNodeContainers, testEdgecoreConfig } from "../test/test-edgecore.js";
import { untilValue } from "../test/until.js";
import { Edgecore } from "./edgecore.js";
import { Labels } from "./edged/runtime-config.js";
import { streamContainerLog } from "./stream/container-logs.js";
import { ContainerNotFoundError, locateContainerLog } from "./stream/log-locator.js";
import type { NodeCredentials } from "./hub/join.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });

interface PodJson {
  metadata: { name: string; uid: string };
  status?: {
    phase?: string;
    qosClass?: string;
    podIP?: string;
    containerStatuses?: {
      name: string;
      restartCount: number;
      ready: boolean;
      containerID?: string;
      state?: Record<string, unknown>;
    }[];
  };
}

describe("edgecore on real containerd, behind a real cloudcore", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `edge-${suffix}`;
  const nodeName = `edge-real-${suffix}`;
  const work = mkdtempSync(join(tmpdir(), "edgefleet-edgecore-"));
  const socket = env.containerd?.socket ?? "";
  let rest: KubeRest;
  let cloudcore: Cloudcore | undefined;
  let tunnelPort = 0;
  let credentials: NodeCredentials;
  let edgecore: Edgecore | undefined;

  const startCloudcore = async (): Promise<Cloudcore> =>
    startTestCloudcore(kc, undefined, {
      logger: log,
      tunnelPort,
      edgeNodeSelector: `edgefleet.io/test=${namespace}`,
    });
  const startEdgecore = async (): Promise<Edgecore> => {
    const config = testEdgecoreConfig(
      { nodeName, tunnelPort, work, containerdSocket: socket },
      { labels: { "edgefleet.io/test": namespace } },
    );
    const core = new Edgecore({ config, credentials, log });
    await core.start();
    return core;
  };
  const pods = async (): Promise<PodJson[]> =>
    ((await rest.get(`/api/v1/namespaces/${namespace}/pods`)) as unknown as { items: PodJson[] }).items;
  /** The Deployment's pod (other tests' pods may still be terminating beside it). */
  const webPods = async (): Promise<PodJson[]> =>
    (await pods()).filter((p) => p.metadata.name.startsWith("web-"));
  const ctr = (args: string[]): Promise<string> =>
    runCommand(systemBinary("ctr", "containerd"), [
      "--address",
      socket,
      "--namespace",
      "k8s.io",
      ...args,
    ]).then((r) => r.stdout);
  /** The running container of the pod, as containerd shows it. */
  const runningContainer = async (uid: string): Promise<string> => {
    const cri = edgecore?.cri;
    if (!cri) throw new Error("no edgecore");
    return untilValue("a running container of the pod", 60_000, async () => {
      const list = await cri.listContainers({
        labelSelector: { [Labels.podUid]: uid },
        state: { state: "CONTAINER_RUNNING" },
      });
      return list[0]?.id;
    });
  };

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    cloudcore = await startCloudcore();
    tunnelPort = cloudcore.hub.port;
    await rest.request("create", "/api/v1/namespaces", { body: { metadata: { name: namespace } } });
    credentials = await joinTestNode(cloudcore, nodeName, work);
    edgecore = await startEdgecore();
  }, 120_000);

  afterAll(async () => {
    await edgecore?.stop();
    await cloudcore?.close();
    // Containers outlive edgecore by design; the test removes its own.
    await removeNodeContainers(socket, nodeName);
    await rest?.request("delete", `/api/v1/nodes/${nodeName}`).catch(() => undefined);
    await rest?.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it("runs a Deployment's pod as a real container that shows Running, with its ConfigMap file mounted", async () => {
    await rest.request("create", `/api/v1/namespaces/${namespace}/configmaps`, {
      body: { metadata: { name: "app-config" }, data: { "app.conf": `greeting=hello from ${suffix}\n` } },
    });
    await rest.request("create", `/apis/apps/v1/namespaces/${namespace}/deployments`, {
      body: {
        metadata: { name: "web" },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: "web" } },
          template: {
            metadata: { labels: { app: "web" } },
            spec: {
              nodeSelector: { "kubernetes.io/hostname": nodeName },
              terminationGracePeriodSeconds: 2,
              containers: [
                {
                  name: "web",
                  image: BUSYBOX_IMAGE,
                  command: ["sh", "-c", "cat /config/app.conf; echo started; exec sleep 3600"],
                  volumeMounts: [{ name: "config", mountPath: "/config" }],
                },
              ],
              volumes: [{ name: "config", configMap: { name: "app-config" } }],
            },
          },
        },
      },
    });
    const running = await untilValue("the pod Running and Ready", 90_000, async () => {
      const [pod] = await webPods();
      return pod?.status?.phase === "Running" && pod.status.containerStatuses?.[0]?.ready ? pod : undefined;
    });
    const id = await runningContainer(running.metadata.uid);
    expect(running.status?.containerStatuses?.[0]?.containerID).toBe(`containerd://${id}`);
    const cri = edgecore?.cri;
    const cat = await cri?.execSync({ containerId: id, cmd: ["cat", "/config/app.conf"], timeout: 10 });
    expect(cat?.stdout.toString()).toBe(`greeting=hello from ${suffix}\n`);
    expect(cat?.exitCode).toBe(0);
    // Its own network namespace and address, from the CNI bridge.
    expect(running.status?.podIP).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(running.status?.podIP).not.toBe("127.0.0.1");
    // The service-account volume the apiserver added: a token the cloud issued, CA and namespace.
    const sa = await cri?.execSync({
      containerId: id,
      cmd: [
        "sh",
        "-c",
        "cd /var/run/secrets/kubernetes.io/serviceaccount && cat namespace && echo && wc -c < token && head -1 ca.crt",
      ],
      timeout: 10,
    });
    const [ns, tokenBytes, caLine] = (sa?.stdout.toString() ?? "").split("\n");
    expect(ns?.trim()).toBe(namespace);
    expect(Number(tokenBytes)).toBeGreaterThan(100);
    expect(caLine).toBe("-----BEGIN CERTIFICATE-----");
  });

  it("reads a container's log from the runtime's log file, as /containerLogs serves it", async () => {
    const [pod] = await webPods();
    if (!pod || !edgecore) throw new Error("no pod");
    const located = await locateContainerLog(edgecore.cri, {
      node: nodeName,
      namespace,
      pod: pod.metadata.name,
      container: "web",
    });
    expect(located.path).toMatch(/web\/0\.log$/);
    expect(await located.running()).toBe(true);
    let out = "";
    await streamContainerLog(located.path, { tailLines: 1 }, async (chunk) => void (out += chunk), located);
    expect(out).toBe("started\n");
    out = "";
    await streamContainerLog(
      located.path,
      { timestamps: true },
      async (chunk) => void (out += chunk),
      located,
    );
    expect(out).toMatch(new RegExp(`^\\S+Z greeting=hello from ${suffix}\\n\\S+Z started\\n$`));
    await expect(
      locateContainerLog(edgecore.cri, {
        node: nodeName,
        namespace,
        pod: pod.metadata.name,
        container: "nope",
      }),
    ).rejects.toThrow(ContainerNotFoundError);
  });

  it("gives a container env from a ConfigMap, a Secret and the downward API, and its memory and CPU limits", async () => {
    await rest.request("create", `/api/v1/namespaces/${namespace}/secrets`, {
      body: { metadata: { name: "creds" }, stringData: { password: "s3cr3t" } },
    });
    await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
      body: {
        metadata: { name: "limited", labels: { tier: "batch" } },
        spec: {
          nodeName,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: "app",
              image: BUSYBOX_IMAGE,
              // Not through sh: it drops variables whose names are not identifiers (app.conf).
              command: ["sleep", "3600"],
              env: [
                { name: "PASSWORD", valueFrom: { secretKeyRef: { name: "creds", key: "password" } } },
                { name: "TIER", valueFrom: { fieldRef: { fieldPath: "metadata.labels['tier']" } } },
              ],
              envFrom: [{ configMapRef: { name: "app-config" }, prefix: "CFG_" }],
              resources: { limits: { memory: "64Mi", cpu: "250m" } },
            },
          ],
        },
      },
    });
    const pod = await untilValue("the limited pod Running", 60_000, async () => {
      const p = (await pods()).find((x) => x.metadata.name === "limited");
      return p?.status?.phase === "Running" ? p : undefined;
    });
    const id = await runningContainer(pod.metadata.uid);
    const run = async (script: string): Promise<string> =>
      (
        (await edgecore?.cri.execSync({ containerId: id, cmd: ["sh", "-c", script], timeout: 10 }))?.stdout ??
        ""
      )
        .toString()
        .trim();
    expect(await run('echo "$PASSWORD $TIER"')).toBe("s3cr3t batch");
    expect(await run("tr '\\0' '\\n' < /proc/1/environ | grep ^CFG_")).toBe(
      `CFG_app.conf=greeting=hello from ${suffix}`,
    );
    expect(await run("cat /sys/fs/cgroup/memory/memory.limit_in_bytes")).toBe(String(64 * 1024 * 1024));
    expect(await run("cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us")).toBe(
      "25000\n100000",
    );
    // Limits alone default the requests to them: Guaranteed.
    expect(pod.status?.qosClass).toBe("Guaranteed");
    // sleep as PID 1 ignores SIGTERM: it is killed when its 1 s grace runs out, then the pod goes.
    const deleted = Date.now();
    await rest.request("delete", `/api/v1/namespaces/${namespace}/pods/limited`);
    await untilValue("the limited pod to leave the apiserver", 30_000, async () =>
      (await pods()).some((p) => p.metadata.name === "limited") ? undefined : true,
    );
    expect(Date.now() - deleted).toBeGreaterThanOrEqual(1000);
    await untilValue("the node's copy of the limited pod to go", 10_000, async () =>
      edgecore?.meta.store.get(`${namespace}/pod/limited`) === undefined ? true : undefined,
    );
  });

  it("shows why a container cannot start: an image the node lacks under imagePullPolicy Never", async () => {
    await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
      body: {
        metadata: { name: "no-image" },
        spec: {
          nodeName,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 0,
          containers: [{ name: "app", image: "docker.io/edgefleet/absent:1.0", imagePullPolicy: "Never" }],
        },
      },
    });
    const waiting = await untilValue("the waiting reason in the apiserver", 30_000, async () => {
      const p = (await pods()).find((x) => x.metadata.name === "no-image");
      const state = p?.status?.containerStatuses?.[0]?.state as
        { waiting?: { reason?: string; message?: string } } | undefined;
      return state?.waiting?.reason === "ErrImageNeverPull" ? state.waiting : undefined;
    });
    expect(waiting.message).toContain("docker.io/edgefleet/absent:1.0");
    expect((await pods()).find((x) => x.metadata.name === "no-image")?.status?.phase).toBe("Pending");
    await rest.request("delete", `/api/v1/namespaces/${namespace}/pods/no-image`);
    await untilValue("the no-image pod to go", 30_000, async () =>
      (await pods()).some((p) => p.metadata.name === "no-image") ||
      edgecore?.meta.store.get(`${namespace}/pod/no-image`) !== undefined
        ? undefined
        : true,
    );
  });

  it("runs init containers first, shares an emptyDir with them, and gates Ready on the readiness probe", async () => {
    await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
      body: {
        metadata: { name: "probed" },
        spec: {
          nodeName,
          automountServiceAccountToken: false,
          terminationGracePeriodSeconds: 0,
          initContainers: [
            {
              name: "prepare",
              image: BUSYBOX_IMAGE,
              command: ["sh", "-c", "echo prepared > /work/state"],
              volumeMounts: [{ name: "work", mountPath: "/work" }],
            },
          ],
          containers: [
            {
              name: "app",
              image: BUSYBOX_IMAGE,
              command: ["sh", "-c", "cat /work/state; exec sleep 3600"],
              volumeMounts: [{ name: "work", mountPath: "/work" }],
              readinessProbe: { exec: { command: ["test", "-f", "/tmp/ready"] }, periodSeconds: 1 },
            },
          ],
          volumes: [{ name: "work", emptyDir: {} }],
        },
      },
    });
    const probed = async (): Promise<PodJson | undefined> =>
      (await pods()).find((p) => p.metadata.name === "probed");
    const running = await untilValue("the probed pod Running", 60_000, async () => {
      const p = await probed();
      return p?.status?.phase === "Running" ? p : undefined;
    });
    // Running but not Ready: the probe's file does not exist yet.
    expect(running.status?.containerStatuses?.[0]?.ready).toBe(false);
    const id = await runningContainer(running.metadata.uid);
    const cri = edgecore?.cri;
    expect(
      (await cri?.execSync({ containerId: id, cmd: ["cat", "/work/state"], timeout: 10 }))?.stdout.toString(),
    ).toBe("prepared\n");
    await cri?.execSync({ containerId: id, cmd: ["touch", "/tmp/ready"], timeout: 10 });
    await untilValue("the probed pod Ready", 30_000, async () =>
      (await probed())?.status?.containerStatuses?.[0]?.ready === true ? true : undefined,
    );
    const init = (await probed())?.status as
      { initContainerStatuses?: { state?: { terminated?: { exitCode?: number } } }[] } | undefined;
    expect(init?.initContainerStatuses?.[0]?.state?.terminated?.exitCode).toBe(0);
    await rest.request("delete", `/api/v1/namespaces/${namespace}/pods/probed`);
    await untilValue("the probed pod to go", 30_000, async () =>
      (await probed()) === undefined && edgecore?.meta.store.get(`${namespace}/pod/probed`) === undefined
        ? true
        : undefined,
    );
  });

  it("restarts a killed container per restartPolicy, and the restart count rises in the apiserver", async () => {
    const [pod] = await webPods();
    if (!pod) throw new Error("no pod");
    const first = await runningContainer(pod.metadata.uid);
    await ctr(["tasks", "kill", "--signal", "SIGKILL", first]);
    const restarted = await untilValue("the restart in the apiserver", 60_000, async () => {
      const [p] = await webPods();
      const status = p?.status?.containerStatuses?.[0];
      return status && status.restartCount >= 1 && status.ready ? p : undefined;
    });
    const second = await runningContainer(restarted.metadata.uid);
    expect(second).not.toBe(first);
    expect(restarted.status?.containerStatuses?.[0]).toMatchObject({
      restartCount: 1,
      lastState: { terminated: { exitCode: 137 } },
    });
  });

  it("keeps the pod running through a cloud outage and an edgecore restart, serves it locally, and converges on reconnect", async () => {
    const [pod] = await webPods();
    if (!pod) throw new Error("no pod");
    const before = await runningContainer(pod.metadata.uid);
    // Which step took the time, when the whole test is slow (61 s once in CI, 1-3 s locally).
    const startedAt = Date.now();
    const steps: { name: string; at: number }[] = [];
    const step = (name: string): void => void steps.push({ name, at: Date.now() });
    // The cloud goes away entirely; then edgecore itself restarts with no cloud to ask.
    await cloudcore?.close();
    cloudcore = undefined;
    await edgecore?.stop();
    step("cloudcore closed, edgecore stopped");
    edgecore = await startEdgecore();
    step("edgecore restarted offline");
    expect(edgecore.hub.status.type).not.toBe("connected");
    // The pod's container was never touched: same container, still running.
    expect(await runningContainer(pod.metadata.uid)).toBe(before);
    const local = (await (
      await fetch(`${edgecore.metaServer.url}/api/v1/namespaces/${namespace}/pods`)
    ).json()) as {
      items: PodJson[];
    };
    expect(local.items.map((p) => p.metadata.name)).toEqual([pod.metadata.name]);
    expect(local.items[0]?.status?.phase).toBe("Running");
    // kubectl works against it too, with no kubeconfig but the node's MetaServer.
    const kubectl = await runCommand(builtBinary(KUBERNETES_BIN_DIR, "kubectl"), [
      "--server",
      edgecore.metaServer.url,
      "get",
      "pods",
      "-n",
      namespace,
      "-o",
      "custom-columns=NAME:.metadata.name,PHASE:.status.phase",
      "--no-headers",
    ]);
    step("kubectl against the MetaServer");
    expect(kubectl.stdout.trim().split(/\s+/)).toEqual([pod.metadata.name, "Running"]);
    // While offline the container dies and edged restarts it from the local state alone.
    await ctr(["tasks", "kill", "--signal", "SIGKILL", before]);
    const offlineRestart = await untilValue("a new container started offline", 60_000, async () => {
      const id = await runningContainer(pod.metadata.uid);
      return id !== before ? id : undefined;
    });
    expect(offlineRestart).toBeDefined();
    step("container restarted offline");
    // The cloud comes back on the same address: the node reconnects and its status converges.
    cloudcore = await startCloudcore();
    step("cloudcore back");
    const converged = await untilValue("the status to converge", 90_000, async () => {
      const [p] = await webPods();
      const status = p?.status?.containerStatuses?.[0];
      return status?.restartCount === 2 && status.containerID === `containerd://${offlineRestart}`
        ? p
        : undefined;
    });
    step("status converged");
    const took = Date.now() - startedAt;
    if (took > 15_000)
      process.stderr.write(
        `[edgecore outage test] ${took} ms: ${steps
          .map(({ name, at }, i) => `${name} +${at - (steps[i - 1]?.at ?? startedAt)} ms`)
          .join(", ")}\n`,
      );
    expect(converged.status?.phase).toBe("Running");
  });

  it("stops a deleted pod's containers within its grace period and confirms, so the pod leaves the apiserver", async () => {
    const [pod] = await webPods();
    if (!pod) throw new Error("no pod");
    await rest.request("delete", `/apis/apps/v1/namespaces/${namespace}/deployments/web`);
    await untilValue("the pod to leave the apiserver", 60_000, async () =>
      (await pods()).length === 0 ? true : undefined,
    );
    const left = await edgecore?.cri.listContainers({
      labelSelector: { [Labels.podUid]: pod.metadata.uid },
      state: { state: "CONTAINER_RUNNING" },
    });
    expect(left).toEqual([]);
    await untilValue("the local copy to go", 10_000, async () =>
      edgecore?.meta.store.get(`${namespace}/pod/${pod.metadata.name}`) === undefined ? true : undefined,
    );
  });
});
