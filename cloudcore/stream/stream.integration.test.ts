import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { Edgecore } from "../../edgecore/edgecore.js";
import { CertificateAuthority } from "../../protocol/pki.js";
import { systemBinary } from "../../scripts/env/binaries.js";
import { BUSYBOX_IMAGE } from "../../scripts/env/busybox-image.js";
import { startTestCloudcore } from "../../test/test-cloudcore.js";
import { TestEdge } from "../../test/edge-agent.js";
import {
  joinTestNode,
  removeNodeContainers,
  testEdgecoreConfig,
  tickerPod,
} from "../../test/test-edgecore.js";
import { createPodNamespace } from "../../test/pod-namespace.js";
import { untilValue } from "../../test/until.js";
import {
  httpBody,
  KUBECTL,
  kubectlInBackground,
  runWith,
  stopProcess as stop,
  type CommandRun,
} from "../../test/kubectl.js";
import type { Cloudcore } from "../cloudcore.js";
import { KubeRest } from "../kube/kube-rest.js";

const env = inject("env");
const log = pino({ level: process.env["EDGEFLEET_TEST_LOG"] ?? "silent" });
const kubeconfig = env.kubernetes?.kubeconfig ?? "";
const run = (command: string, args: readonly string[], input?: string): Promise<CommandRun> =>
  runWith(kubeconfig, command, args, input);
const background = (args: readonly string[]): ReturnType<typeof kubectlInBackground> =>
  kubectlInBackground(kubeconfig, args);

describe("kubectl logs, exec and port-forward to an edge pod, through CloudStream and EdgeStream", () => {
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubernetes?.kubeconfig ?? "");
  const suffix = randomBytes(3).toString("hex");
  const namespace = `stream-${suffix}`;
  const nodeName = `edge-stream-${suffix}`;
  const work = mkdtempSync(join(tmpdir(), "edgefleet-stream-"));
  const socket = env.containerd?.socket ?? "";
  let rest: KubeRest;
  let cloudcore: Cloudcore | undefined;
  let edgecore: Edgecore | undefined;
  const pod = "app";

  beforeAll(async () => {
    rest = await KubeRest.create(kc);
    cloudcore = await startTestCloudcore(kc, undefined, {
      logger: log,
      edgeNodeSelector: `edgefleet.io/test=${namespace}`,
      stream: { port: 0, answerTimeoutMs: 2000 },
    });
    await createPodNamespace(rest, namespace);
    const credentials = await joinTestNode(cloudcore, nodeName, work);
    edgecore = new Edgecore({
      config: testEdgecoreConfig(
        { nodeName, tunnelPort: cloudcore.hub.port, work, containerdSocket: socket },
        { labels: { "edgefleet.io/test": namespace } },
      ),
      credentials,
      log,
    });
    await edgecore.start();
    await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
      body: tickerPod(pod, nodeName, suffix),
    });
    await untilValue("the pod Running", 90_000, async () => {
      const p = await rest.get<{ status?: { phase?: string } }>(
        `/api/v1/namespaces/${namespace}/pods/${pod}`,
      );
      return p.status?.phase === "Running" ? true : undefined;
    });
    // The apiserver dials the Node's InternalIP (127.0.0.1 here) at its kubelet port: ours.
    await untilValue("the node's kubelet port = the stream server's", 30_000, async () => {
      const node = await rest.get<{ status?: { daemonEndpoints?: { kubeletEndpoint?: { Port?: number } } } }>(
        `/api/v1/nodes/${nodeName}`,
      );
      return node.status?.daemonEndpoints?.kubeletEndpoint?.Port === cloudcore?.stream?.server.port
        ? true
        : undefined;
    });
  }, 180_000);

  afterAll(async () => {
    await edgecore?.stop();
    await cloudcore?.close();
    await removeNodeContainers(socket, nodeName);
    await rest?.request("delete", `/api/v1/nodes/${nodeName}`).catch(() => undefined);
    await rest?.request("delete", `/api/v1/namespaces/${namespace}`).catch(() => undefined);
    rest?.close();
    rmSync(work, { recursive: true, force: true });
  }, 120_000);

  it("kubectl logs returns the container's output, --tail limits it, and -f follows new lines", async () => {
    const all = await run(KUBECTL, ["logs", "-n", namespace, pod]);
    expect(all.stderr).toBe("");
    expect(all.code).toBe(0);
    expect(all.stdout.split("\n")[0]).toBe(`started-${suffix}`);
    const tail = await run(KUBECTL, ["logs", "-n", namespace, pod, "--tail=2"]);
    expect(tail.stdout).toMatch(/^tick \d+\ntick \d+\n$/);

    const follow = background(["logs", "-f", "-n", namespace, pod, "--tail=1"]);
    try {
      const first = await untilValue(
        "a first followed line",
        20_000,
        async () => /tick (\d+)\n/.exec(follow.output())?.[1],
      );
      // New lines keep arriving while the container writes them (5 per second).
      await untilValue("five more lines followed", 20_000, async () =>
        follow.output().includes(`tick ${Number(first) + 5}\n`) ? true : undefined,
      );
    } finally {
      await stop(follow.child);
    }
    // Ctrl-C on the client ends the session on the cloud and on the edge.
    await untilValue("no stream session left", 10_000, async () =>
      cloudcore?.stream?.relay.active === 0 && edgecore?.stream.sessions === 0 ? true : undefined,
    );
  }, 90_000);

  it("kubectl exec relays stdin and stdout and returns the command's exit code", async () => {
    const result = await run(
      KUBECTL,
      ["exec", "-i", "-n", namespace, pod, "--", "sh", "-c", "read x; echo got-$x; exit 3"],
      "hi\n",
    );
    expect(result.stdout).toBe("got-hi\n");
    expect(result.code).toBe(3);
  }, 60_000);

  it("kubectl exec -it runs in a terminal (util-linux script gives kubectl one)", async () => {
    const command = `${KUBECTL} exec -it -n ${namespace} ${pod} -- sh -c 'echo hi; [ -t 0 ] && echo tty'`;
    const result = await run(systemBinary("script", "bsdutils"), ["-qec", command, "/dev/null"], "");
    expect(result.stdout.replace(/\r/g, "")).toContain("hi\ntty\n");
    expect(result.code).toBe(0);
  }, 60_000);

  it("a stalled session (its kubectl stopped mid-output) holds up neither another exec nor the tunnel", async () => {
    // 200 MB of output that nobody reads: without per-session flow control it would pile up in the
    // cloud or block the tunnel's reader.
    const flood = background(["exec", "-n", namespace, pod, "--", "sh", "-c", "yes | head -c 200000000"]);
    try {
      await untilValue("the flood's first bytes", 20_000, async () =>
        flood.output().length > 0 ? true : undefined,
      );
      flood.child.kill("SIGSTOP");
      const started = Date.now();
      for (let i = 0; i < 3; i++) {
        const result = await run(KUBECTL, ["exec", "-n", namespace, pod, "--", "echo", `beside-${i}`]);
        expect(result.stdout).toBe(`beside-${i}\n`);
      }
      expect(Date.now() - started).toBeLessThan(10_000);
      // The tunnel still carries messages: the node stays Ready with a fresh heartbeat.
      const node = await rest.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        `/api/v1/nodes/${nodeName}`,
      );
      expect(node.status?.conditions?.find((c) => c.type === "Ready")?.status).toBe("True");
    } finally {
      flood.child.kill("SIGCONT");
      await stop(flood.child);
    }
    await untilValue("no stream session left", 15_000, async () =>
      cloudcore?.stream?.relay.active === 0 && edgecore?.stream.sessions === 0 ? true : undefined,
    );
  }, 90_000);

  it("kubectl port-forward reaches the pod's httpd", async () => {
    const forward = background(["port-forward", "-n", namespace, `pod/${pod}`, ":8080"]);
    try {
      const port = await untilValue(
        "kubectl to listen",
        20_000,
        async () => /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(forward.output())?.[1],
      );
      for (let i = 0; i < 3; i++) {
        const body = await httpBody(Number(port));
        expect(body).toBe(`hello-${suffix}\n`);
      }
    } finally {
      await stop(forward.child);
    }
  }, 60_000);

  it("refuses what it must not serve with a clear error, and leaks no session", async () => {
    const server = cloudcore?.stream?.server;
    if (!server) throw new Error("no stream server");
    const pki = env.kubernetes?.pki;
    if (!pki) throw new Error("no pki");
    const clusterCa = await CertificateAuthority.fromPem(
      readFileSync(pki.caCert, "utf8"),
      readFileSync(pki.caKey, "utf8"),
    );
    const cloudCaPem = readFileSync(pki.cloudCaCert, "utf8");
    const call = async (
      path: string,
      client: { certPem: string; keyPem: string } | undefined,
    ): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = httpsRequest(
          {
            host: "127.0.0.1",
            port: server.port,
            path,
            ca: cloudCaPem,
            ...(client && { cert: client.certPem, key: client.keyPem }),
            agent: false,
          },
          (res) => {
            let body = "";
            res.on("data", (d: Buffer) => (body += d.toString("utf8")));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.end();
      });
    const apiserver = {
      certPem: readFileSync(pki.kubeletClientCert, "utf8"),
      keyPem: readFileSync(pki.kubeletClientKey, "utf8"),
    };
    const nobody = await clusterCa.issue({ subject: `CN=nobody-${suffix}`, usage: "client" });
    const stranger = await (
      await CertificateAuthority.create("stranger")
    ).issue({
      subject: "CN=kube-apiserver-kubelet-client",
      usage: "client",
    });

    // The apiserver itself: served.
    const ok = await call(`/containerLogs/${namespace}/${pod}/app?tailLines=1`, apiserver);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatch(/^tick \d+\n$/);
    // No certificate, or one of another CA: the handshake fails.
    await expect(call(`/containerLogs/${namespace}/${pod}/app`, undefined)).rejects.toThrow();
    await expect(call(`/containerLogs/${namespace}/${pod}/app`, stranger)).rejects.toThrow();
    // A cluster user without nodes/proxy: 403, as the kubelet answers.
    const denied = await call(`/containerLogs/${namespace}/${pod}/app`, nobody);
    expect(denied.status).toBe(403);
    expect(denied.body).toContain(`nobody-${suffix}`);
    // An unknown pod; a pod bound to a node that is not one of ours; an unknown container.
    expect(await call(`/containerLogs/${namespace}/nope/app`, apiserver)).toEqual({
      status: 404,
      body: 'pod "nope" does not exist\n',
    });
    await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
      body: {
        metadata: { name: "elsewhere" },
        spec: { nodeName: `not-an-edge-${suffix}`, containers: [{ name: "c", image: BUSYBOX_IMAGE }] },
      },
    });
    const elsewhere = await call(`/containerLogs/${namespace}/elsewhere/c`, apiserver);
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body).toContain("is not an edge node");
    const noContainer = await call(`/containerLogs/${namespace}/${pod}/nope`, apiserver);
    expect(noContainer.status).toBe(404);
    expect(noContainer.body).toContain('container "nope"');
    // Bad parameters are named.
    const bad = await call(`/containerLogs/${namespace}/${pod}/app?tailLines=x`, apiserver);
    expect(bad).toEqual({ status: 400, body: 'tailLines: "x" must be an integer ≥ 0\n' });
    // A node whose edge never answers a stream (here: an agent that knows no streams): 504.
    const silentNode = `edge-silent-${suffix}`;
    const silent = new TestEdge(
      silentNode,
      `127.0.0.1:${cloudcore?.hub.port}`,
      await joinTestNode(cloudcore as Cloudcore, silentNode, join(work, "silent")),
      log,
      { labels: { "edgefleet.io/test": namespace } },
    );
    try {
      await silent.start();
      await silent.register();
      await untilValue("the silent node served here", 15_000, async () =>
        cloudcore?.edge.isEdgeNode(silentNode) && cloudcore.ownership.owns(silentNode) ? true : undefined,
      );
      await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
        body: {
          metadata: { name: "silent" },
          spec: { nodeName: silentNode, containers: [{ name: "c", image: BUSYBOX_IMAGE }] },
        },
      });
      const started = Date.now();
      const timedOut = await call(`/containerLogs/${namespace}/silent/c`, apiserver);
      expect(timedOut.status).toBe(504);
      expect(timedOut.body).toContain(`node "${silentNode}" did not answer within 2000 ms`);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    } finally {
      await silent.close();
      await rest.request("delete", `/api/v1/nodes/${silentNode}`).catch(() => undefined);
    }

    // Both ends count what they refused.
    const edgeRefused = (await edgecore?.metrics.streamSessions.get())?.values.find(
      (v) => v.labels.kind === "logs" && v.labels.result === "404",
    );
    expect(edgeRefused?.value).toBeGreaterThanOrEqual(1);
    const cloudRefused = (await cloudcore?.metrics.streamRequests.get())?.values.find(
      (v) => v.labels.kind === "logs" && v.labels.result === "403",
    );
    expect(cloudRefused?.value).toBe(1);

    // Through the apiserver, the edge's 404 becomes kubectl's NotFound.
    const viaKubectl = await run(KUBECTL, ["logs", "-n", namespace, pod, "-c", "nope"]);
    expect(viaKubectl.code).not.toBe(0);
    expect(viaKubectl.stderr).toContain("nope");

    await untilValue("no stream session left", 10_000, async () =>
      cloudcore?.stream?.relay.active === 0 && edgecore?.stream.sessions === 0 ? true : undefined,
    );
  }, 60_000);
});
