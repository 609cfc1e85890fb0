/**
 * Controller benchmark (`npm run bench:controllers`): the two message paths through cloudcore on the
 * real control plane. N edge nodes join and register over real tunnels; M pods are created bound to
 * them; we measure
 * - downstream: pod create request → the pod arrives at its edge (apiserver → watch → cloudcore → tunnel),
 * - upstream: the edge's `podpatch` (Running) → cloudcore's reply after the apiserver wrote it,
 * - a cloudcore restart: time until every node is back and resynced, and how much was resent,
 * - deletion: delete issued → edge told (deletionTimestamp) → edge confirms → final delete at the edge.
 * cloudcore runs in this process; the edges are EdgeHub clients in this process too.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { Command } from "commander";
import { positiveInt } from "../flags.js";
import * as hdr from "hdr-histogram-js";
import { pino } from "pino";
import { Cloudcore } from "../../cloudcore/cloudcore.js";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { EdgeHub } from "../../edgecore/hub/edgehub.js";
import { joinCloud, type NodeCredentials } from "../../edgecore/hub/join.js";
import { confirmPodDeletion, patchPodStatus, registerNode } from "../../edgecore/upstream/requests.js";
import { OK_CONTENT, Operation, Source } from "../../protocol/constants.js";
import { responseTo, type Message } from "../../protocol/message.js";
import { freePort } from "../../scripts/env/ports.js";
import { startEnvironment } from "../../scripts/env/environment.js";
import { createPodNamespace } from "../../test/pod-namespace.js";
import { until } from "../../test/until.js";

interface Flags {
  nodes: number;
  pods: number;
  concurrency: number;
  report: string;
}

const log = pino({ level: "warn" });
const histogram = (): hdr.Histogram =>
  hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
  });
const summary = (h: hdr.Histogram): Record<string, number> => ({
  count: h.totalCount,
  p50Ms: h.getValueAtPercentile(50) / 1000,
  p99Ms: h.getValueAtPercentile(99) / 1000,
  maxMs: h.maxValue / 1000,
});
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** Runs `task` over `items` with at most `limit` in flight. */
async function pool<T>(items: readonly T[], limit: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await task(items[next++] as T);
    }),
  );
}

async function run(flags: Flags): Promise<void> {
  const stateDir = mkdtempSync(join(tmpdir(), "edgefleet-bench-ctl-"));
  const env = await startEnvironment({ components: ["kubernetes", "redis"], stateDir });
  const edges: EdgeHub[] = [];
  let cloudcore: Cloudcore | undefined;
  try {
    const kc = new KubeConfig();
    kc.loadFromFile(env.info.kubernetes?.kubeconfig ?? "");
    const rest = await KubeRest.create(kc);
    const ports = { tunnel: await freePort(), certificates: await freePort() };
    const startCloudcore = (): Promise<Cloudcore> =>
      Cloudcore.start({
        kubeConfig: kc,
        advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
        host: "127.0.0.1",
        tunnelPort: ports.tunnel,
        certificatePort: ports.certificates,
        kubeedgePort: null,
        metricsPort: null,
        deviceWebhook: null,
        stream: null,
        redisUrl: env.info.redis?.url ?? "",
        logger: log,
      });
    cloudcore = await startCloudcore();
    const { token } = await cloudcore.tokens.create({ ttlSeconds: 3600, description: "bench:controllers" });
    const namespace = "bench";
    await createPodNamespace(rest, namespace);

    // Per pod: when created, when it reached its edge, when its deletion was issued and finished.
    const created = new Map<string, number>();
    const deleteIssued = new Map<string, number>();
    const down = histogram();
    const up = histogram();
    const deletion = histogram();
    let podMessages = 0;
    let podMessagesAfterRestart = -1;

    const nodeNames = Array.from({ length: flags.nodes }, (_, i) => `bench-edge-${i}`);
    const certDir = join(stateDir, "edges");
    const t0 = Date.now();
    const credentials = new Map<string, NodeCredentials>();
    await pool(nodeNames, flags.concurrency, async (name) => {
      credentials.set(
        name,
        await joinCloud({
          server: `127.0.0.1:${ports.certificates}`,
          token,
          nodeName: name,
          certDir: join(certDir, name),
        }),
      );
    });
    const joinSeconds = (Date.now() - t0) / 1000;

    const t1 = Date.now();
    await pool(nodeNames, flags.concurrency, async (name) => {
      const hub = new EdgeHub({
        server: `127.0.0.1:${ports.tunnel}`,
        nodeName: name,
        credentials: credentials.get(name) as NodeCredentials,
        logger: log,
        backoff: { initialMs: 200, maxMs: 2000 },
        requestTimeoutMs: 120_000,
      });
      edges.push(hub);
      hub.onMessage((m) => onEdgeMessage(hub, m));
      hub.start();
      await hub.connected();
      await hub.request(
        registerNode({
          name,
          internalIP: "127.0.0.1",
          capacity: { cpu: "8", memory: "16Gi", pods: "1000" },
        }),
      );
    });
    const registerSeconds = (Date.now() - t1) / 1000;

    function onEdgeMessage(hub: EdgeHub, m: Message): void {
      const { operation, resource = "" } = m.route;
      if (m.route.source !== Source.EdgeController || operation === Operation.Response) return;
      hub.send(responseTo(m, OK_CONTENT));
      const [ns, type, name = ""] = resource.split("/");
      if (type !== "pod") return;
      podMessages++;
      const pod = m.content as { metadata?: { uid?: string; deletionTimestamp?: string } };
      if (operation === Operation.Insert) {
        const c = created.get(name);
        if (c !== undefined) {
          down.recordValue(Math.max(1, nowUs() - c));
          created.delete(name);
        }
        const sent = nowUs();
        void hub
          .request(patchPodStatus(ns ?? "", name, { phase: "Running" }))
          .then(() => up.recordValue(Math.max(1, nowUs() - sent)))
          .catch(() => undefined);
      } else if (operation === Operation.Update && pod.metadata?.deletionTimestamp) {
        void hub.request(confirmPodDeletion(ns ?? "", name, pod.metadata.uid)).catch(() => undefined);
      } else if (operation === Operation.Delete) {
        const issued = deleteIssued.get(name);
        if (issued !== undefined) {
          deletion.recordValue(Math.max(1, nowUs() - issued));
          deleteIssued.delete(name);
        }
      }
    }

    // Downstream and upstream.
    const podNames = Array.from({ length: flags.pods }, (_, i) => `pod-${i}`);
    const t2 = Date.now();
    let index = 0;
    await pool(podNames, flags.concurrency, async (name) => {
      const node = nodeNames[index++ % nodeNames.length] ?? "";
      // Timed from the create request: the watch event can reach the edge before the reply does.
      created.set(name, nowUs());
      await rest.request("create", `/api/v1/namespaces/${namespace}/pods`, {
        body: {
          metadata: { name },
          spec: {
            nodeName: node,
            automountServiceAccountToken: false,
            containers: [{ name: "main", image: "docker.io/edgefleet/busybox:1.35" }],
          },
        },
      });
    });
    const createSeconds = (Date.now() - t2) / 1000;
    await until("every pod at its edge", () => down.totalCount >= flags.pods, 300_000);
    await until("every pod Running", () => up.totalCount >= flags.pods, 300_000);
    const pathSeconds = (Date.now() - t2) / 1000;

    // Restart: nothing acked should be resent.
    await until("all acked", () => nodeNames.every((n) => cloudcore?.hub.delivery.pending(n) === 0), 60_000);
    await cloudcore.close();
    const before = podMessages;
    const t3 = Date.now();
    cloudcore = await startCloudcore();
    const restarted = cloudcore;
    await until(
      "every node reconnected",
      () => nodeNames.every((n) => restarted.hub.sessions.get(n) !== undefined),
      120_000,
    );
    const reconnectSeconds = (Date.now() - t3) / 1000;
    await new Promise((r) => setTimeout(r, 2000));
    podMessagesAfterRestart = podMessages - before;

    // Deletion round trip.
    const t4 = Date.now();
    await pool(podNames, flags.concurrency, async (name) => {
      deleteIssued.set(name, nowUs());
      await rest.request("delete", `/api/v1/namespaces/${namespace}/pods/${name}`);
    });
    await until("every deletion confirmed at the edge", () => deletion.totalCount >= flags.pods, 300_000);
    const deleteSeconds = (Date.now() - t4) / 1000;

    const report = {
      benchmark: "controllers",
      date: new Date().toISOString(),
      nodes: flags.nodes,
      pods: flags.pods,
      concurrency: flags.concurrency,
      joinPerSecond: flags.nodes / joinSeconds,
      registerPerSecond: flags.nodes / registerSeconds,
      podCreatesPerSecond: flags.pods / createSeconds,
      podsRunningPerSecond: flags.pods / pathSeconds,
      downstreamCreateToEdge: summary(down),
      upstreamPodPatchReply: summary(up),
      restart: { reconnectAndResyncSeconds: reconnectSeconds, podMessagesResent: podMessagesAfterRestart },
      deletionRoundTrip: summary(deletion),
      podsDeletedPerSecond: flags.pods / deleteSeconds,
    };
    mkdirSync(dirname(flags.report), { recursive: true });
    writeFileSync(flags.report, JSON.stringify(report, null, 2) + "\n");
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    rest.close();
  } finally {
    await Promise.all(edges.map((e) => e.close()));
    await cloudcore?.close();
    await env.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const program = new Command("bench:controllers")
  .option("--nodes <n>", "edge nodes", positiveInt("--nodes"), 100)
  .option("--pods <n>", "pods, spread over the nodes", positiveInt("--pods"), 2000)
  .option(
    "--concurrency <n>",
    "apiserver requests in flight while creating and deleting",
    positiveInt("--concurrency"),
    16,
  )
  .option("--report <path>", "JSON report", "reports/bench-controllers.json")
  .action((flags: Flags) => run(flags));

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`bench:controllers: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
