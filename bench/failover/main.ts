/**
 * Failover benchmark (`npm run bench:failover`): three `cloudcore run` replica processes behind two
 * HAProxy processes (a process holds at most 20,000 descriptors, and a proxied tunnel costs two),
 * N edges in client processes connected through them. Once every node is owned, the replica owning
 * the most nodes is killed with SIGKILL; we measure the time until every orphaned node is owned by
 * a survivor (Redis owner records) and connected again, and with `--register`, whether they are all
 * still Ready and untainted in the apiserver.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { Command } from "commander";
import { positiveInt } from "../flags.js";
import { Redis } from "ioredis";
import { ClusterKeys } from "../../cloudcore/cluster/keys.js";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import type { NodeJson } from "../../cloudcore/kube/objects.js";
import { loadOrCreateCa } from "../../cloudcore/security/ca-store.js";
import { JoinTokens } from "../../cloudcore/security/join-tokens.js";
import { startEnvironment } from "../../scripts/env/environment.js";
import { startHaproxy, type HaproxyBalancer } from "../../scripts/env/haproxy.js";
import { freePort } from "../../scripts/env/ports.js";
import { next } from "../child.js";
import type { FromClient, ToClient } from "./messages.js";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

interface Flags {
  nodes: number;
  clients: number;
  register: boolean;
  livenessTtl: string;
  report: string;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function run(flags: Flags): Promise<void> {
  const log = (line: string): void => void process.stdout.write(line + "\n");
  const stateDir = mkdtempSync(join(tmpdir(), "edgefleet-bench-fo-"));
  const env = await startEnvironment({ components: ["kubernetes", "redis"], stateDir });
  const children: ChildProcess[] = [];
  const balancers: HaproxyBalancer[] = [];
  const prefix = `fo${Date.now().toString(36)}`;
  try {
    const kubeconfig = env.info.kubernetes?.kubeconfig ?? "";
    const redisUrl = env.info.redis?.url ?? "";
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(CoreV1Api);
    const tokens = new JoinTokens(core, await loadOrCreateCa(core), {});
    const { token } = await tokens.create({ ttlSeconds: 7200, description: "bench:failover" });

    const replicas: {
      id: string;
      child: ChildProcess;
      tunnel: number;
      certificates: number;
      metrics: number;
    }[] = [];
    for (const id of ["r1", "r2", "r3"]) {
      const ports = { tunnel: await freePort(), certificates: await freePort(), metrics: await freePort() };
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          join(root, "cloudcore", "main.ts"),
          "run",
          ...["--kubeconfig", kubeconfig, "--redis-url", redisUrl, "--replica-id", id],
          ...[
            "--host",
            "127.0.0.1",
            "--advertise-address",
            "127.0.0.1",
            "--tunnel-port",
            String(ports.tunnel),
          ],
          ...["--certificate-port", String(ports.certificates), "--metrics-port", String(ports.metrics)],
          ...["--kubeedge-port", "0", "--device-webhook-port", "0", "--rebalance-interval", "0"],
          ...["--liveness-ttl", flags.livenessTtl, "--admission-rate", "2000", "--admission-burst", "4000"],
          ...["--log-level", "warn"],
        ],
        { stdio: ["ignore", "inherit", "inherit"] },
      );
      children.push(child);
      replicas.push({ id, child, ...ports });
    }
    for (const r of replicas) {
      for (let i = 0; ; i++) {
        const ok = await fetch(`http://127.0.0.1:${r.metrics}/readyz`).then(
          (x) => x.ok,
          () => false,
        );
        if (ok) break;
        if (i > 600) throw new Error(`replica ${r.id} not ready`);
        await sleep(100);
      }
    }
    for (let i = 0; i < 2; i++) {
      balancers.push(
        await startHaproxy(join(stateDir, `haproxy-${i}`), [
          {
            name: "tunnel",
            balance: "leastconn",
            backends: replicas.map((r) => ({ name: r.id, host: "127.0.0.1", port: r.tunnel })),
          },
        ]),
      );
    }
    log(`3 replicas and 2 balancers up; ${flags.nodes} edges from ${flags.clients} client processes`);

    const perClient = Math.ceil(flags.nodes / flags.clients);
    const clients: ChildProcess[] = [];
    for (let c = 0; c < flags.clients; c++) {
      const child = fork(join(here, "client.ts"), [], {
        execArgv: ["--import", "tsx"],
        stdio: ["ignore", "inherit", "inherit", "ipc"],
      });
      children.push(child);
      clients.push(child);
      child.send({
        type: "start",
        token,
        certificatePort: replicas[c % replicas.length]?.certificates ?? 0,
        tunnelPort: balancers[c % balancers.length]?.ports["tunnel"] ?? 0,
        firstNode: c * perClient,
        count: Math.min(perClient, flags.nodes - c * perClient),
        localAddress: `127.0.2.${c + 1}`,
        register: flags.register,
        prefix,
      } satisfies ToClient);
    }
    const t0 = Date.now();
    const connected = await Promise.all(
      clients.map((c) => next<Extract<FromClient, { type: "connected" }>>(c, "connected")),
    );
    const total = connected.reduce((n, c) => n + c.count, 0);
    log(
      `${total} edges connected${flags.register ? " and registered" : ""} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
    );

    if (flags.register) {
      // New Nodes carry node.kubernetes.io/not-ready:NoSchedule (admission) until the node
      // lifecycle controller sees them Ready; wait for that, so what is left after the kill is ours.
      const rest = await KubeRest.create(kc);
      for (let i = 0; ; i++) {
        const nodes = (
          await rest.list<NodeJson>("/api/v1/nodes", { labelSelector: `edgefleet.io/bench=${prefix}` })
        ).items;
        if (nodes.every((n) => (n.spec?.taints ?? []).length === 0)) break;
        if (i > 120) {
          log("taints from registration did not clear within 60 s");
          break;
        }
        await sleep(500);
      }
      rest.close();
    }
    const redis = new Redis(redisUrl);
    const keys = new ClusterKeys();
    const names = Array.from({ length: flags.nodes }, (_, i) => `${prefix}-${i}`);
    const owners = async (): Promise<(string | undefined)[]> => {
      const out: (string | undefined)[] = [];
      for (let i = 0; i < names.length; i += 1000) {
        const records = await redis.mget(names.slice(i, i + 1000).map((n) => keys.owner(n)));
        for (const r of records) out.push(r?.split(" ")[0]);
      }
      return out;
    };
    for (let i = 0; ; i++) {
      const o = await owners();
      if (o.every((x) => x !== undefined)) break;
      if (i > 600) throw new Error(`only ${o.filter(Boolean).length} of ${names.length} nodes owned`);
      await sleep(100);
    }
    const before = await owners();
    const counts = new Map<string, number>();
    for (const o of before) counts.set(o ?? "", (counts.get(o ?? "") ?? 0) + 1);
    const [victim = "", orphanCount = 0] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [];
    log(
      `owners: ${[...counts].map(([r, n]) => `${r}=${n}`).join(" ")}; killing ${victim} (${orphanCount} nodes) with SIGKILL`,
    );
    const orphanIdx = before.flatMap((o, i) => (o === victim ? [i] : []));

    const killedAt = Date.now();
    replicas.find((r) => r.id === victim)?.child.kill("SIGKILL");
    let reownedMs = -1;
    let reconnectedMs = -1;
    for (;;) {
      const now = await owners();
      if (reownedMs < 0 && orphanIdx.every((i) => now[i] !== undefined && now[i] !== victim))
        reownedMs = Date.now() - killedAt;
      if (reownedMs >= 0 && reconnectedMs < 0) {
        clients.forEach((c) => c.send({ type: "status" } satisfies ToClient));
        const status = await Promise.all(
          clients.map((c) => next<Extract<FromClient, { type: "status" }>>(c, "status")),
        );
        if (status.every((s) => s.connected === s.total)) reconnectedMs = Date.now() - killedAt;
      }
      if (reownedMs >= 0 && reconnectedMs >= 0) break;
      if (Date.now() - killedAt > 600_000) throw new Error("orphans not re-owned within 10 minutes");
      await sleep(200);
    }
    log(
      `re-owned ${(reownedMs / 1000).toFixed(2)} s, all tunnels up ${(reconnectedMs / 1000).toFixed(2)} s after the kill`,
    );

    let readiness: Record<string, number> | undefined;
    if (flags.register) {
      const rest = await KubeRest.create(kc);
      const nodes = (
        await rest.list<NodeJson>("/api/v1/nodes", { labelSelector: `edgefleet.io/bench=${prefix}` })
      ).items;
      readiness = {
        nodes: nodes.length,
        ready: nodes.filter((n) => n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True")
          .length,
        tainted: nodes.filter((n) => (n.spec?.taints ?? []).length > 0).length,
      };
      const byKey = new Map<string, number>();
      for (const n of nodes)
        for (const t of n.spec?.taints ?? [])
          byKey.set(`${t.key}:${t.effect}`, (byKey.get(`${t.key}:${t.effect}`) ?? 0) + 1);
      if (byKey.size > 0) log(`taints: ${[...byKey].map(([k, n]) => `${k}=${n}`).join(" ")}`);
      rest.close();
      log(`apiserver: ${readiness["ready"]}/${readiness["nodes"]} Ready, ${readiness["tainted"]} tainted`);
    }
    redis.disconnect();

    const report = {
      benchmark: "failover",
      date: new Date().toISOString(),
      nodes: flags.nodes,
      replicas: 3,
      balancers: 2,
      livenessTtl: flags.livenessTtl,
      owners: Object.fromEntries(counts),
      killed: victim,
      orphans: orphanCount,
      reownedSeconds: reownedMs / 1000,
      allReconnectedSeconds: reconnectedMs / 1000,
      ...(readiness && { readiness }),
    };
    mkdirSync(dirname(flags.report), { recursive: true });
    writeFileSync(flags.report, JSON.stringify(report, null, 2) + "\n");
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    clients.forEach((c) => c.send({ type: "stop" } satisfies ToClient));
    await Promise.all(
      clients.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once("exit", r)))),
    );
  } finally {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await Promise.all(
      children.map(
        (c) =>
          new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once("exit", r))),
      ),
    );
    for (const b of balancers) await b.stop();
    await env.stop();
    rmSync(stateDir, { recursive: true, force: true });
  }
}

const program = new Command("bench:failover")
  .option("--nodes <n>", "edge nodes", positiveInt("--nodes"), 1000)
  .option(
    "--clients <n>",
    "client processes (one 127.0.2.x source address each)",
    positiveInt("--clients"),
    4,
  )
  .option("--register", "register Node objects and renew Leases, to check Ready after the failover", false)
  .option("--liveness-ttl <duration>", "replica liveness TTL (how fast a dead replica is noticed)", "6s")
  .option("--report <path>", "JSON report", "reports/bench-failover.json")
  .action((flags: Flags) => run(flags));

program.parseAsync().catch((err: unknown) => {
  process.stderr.write(`bench:failover: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
