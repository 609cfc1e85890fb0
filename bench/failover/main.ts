/**
 * Failover benchmark (`npm run bench:failover`): three `cloudcore run` replica processes behind two
 * HAProxy processes (a process holds at most 20,000 descriptors, and a proxied tunnel costs two),
 * N edges in client processes connected through them. Once every node is owned, the replica owning
 * the most nodes is killed with SIGKILL; we measure the time until every orphaned node is owned by
 * a survivor (Redis owner records) and connected again, and with `--register`, whether they are all
 * still Ready and untainted in the apiserver.
 */
import { Command } from "commander";
import { Redis } from "ioredis";
import { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { positiveInt } from "../flags.js";
import { Fleet } from "../fleet/clients.js";
import { ownerReader, untilAllOwned } from "../fleet/owners.js";
import { readiness, waitUntainted, type Readiness } from "../fleet/readiness.js";
import { runBench, withBenchCluster, writeBenchReport } from "../fleet/bench-cluster.js";
import { summarize } from "../fleet/summary.js";

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
  const prefix = `fo${Date.now().toString(36)}`;
  await withBenchCluster("failover", {}, async (cluster) => {
    const { kubeConfig: kc, redisUrl, token, replicas, balancers } = cluster;
    let fleet: Fleet | undefined;
    try {
      for (const id of ["r1", "r2", "r3"])
        await cluster.startReplica({ id, livenessTtl: flags.livenessTtl, rebalanceInterval: "0" });
      for (let i = 0; i < 2; i++) await cluster.startBalancer(replicas);
      log(`3 replicas and 2 balancers up; ${flags.nodes} edges from ${flags.clients} client processes`);

      const started = await Fleet.start({
        nodes: flags.nodes,
        clients: flags.clients,
        token,
        certificatePorts: replicas.map((r) => r.certificates),
        tunnelPorts: balancers.map((b) => b.ports["tunnel"] ?? 0),
        register: flags.register,
        prefix,
      });
      fleet = started.fleet;
      log(
        `${started.connected} edges connected${flags.register ? " and registered" : ""} in ${(started.elapsedMs / 1000).toFixed(1)} s`,
      );

      const rest = await KubeRest.create(kc);
      if (flags.register && !(await waitUntainted(rest, prefix)))
        log("taints from registration did not clear within 60 s");
      const redis = new Redis(redisUrl);
      const names = Array.from({ length: flags.nodes }, (_, i) => `${prefix}-${i}`);
      const owners = ownerReader(redis, names);
      const before = await untilAllOwned(owners);
      const counts = new Map<string, number>();
      for (const o of before) counts.set(o ?? "", (counts.get(o ?? "") ?? 0) + 1);
      const [victim = "", orphanCount = 0] = [...counts].sort((a, b) => b[1] - a[1])[0] ?? [];
      log(
        `owners: ${[...counts].map(([r, n]) => `${r}=${n}`).join(" ")}; killing ${victim} (${orphanCount} nodes) with SIGKILL`,
      );
      const orphanIdx = before.flatMap((o, i) => (o === victim ? [i] : []));

      await fleet.track();
      const killedAt = Date.now();
      replicas.find((r) => r.id === victim)?.child.kill("SIGKILL");
      let reownedMs = -1;
      let reconnectedMs = -1;
      for (;;) {
        const now = await owners();
        if (reownedMs < 0 && orphanIdx.every((i) => now[i] !== undefined && now[i] !== victim))
          reownedMs = Date.now() - killedAt;
        if (reownedMs >= 0 && reconnectedMs < 0) {
          const status = await fleet.status();
          if (status.every((s) => s.connected === s.total)) reconnectedMs = Date.now() - killedAt;
        }
        if (reownedMs >= 0 && reconnectedMs >= 0) break;
        if (Date.now() - killedAt > 600_000) throw new Error("orphans not re-owned within 10 minutes");
        await sleep(200);
      }
      log(
        `re-owned ${(reownedMs / 1000).toFixed(2)} s, all tunnels up ${(reconnectedMs / 1000).toFixed(2)} s after the kill`,
      );
      const tunnels = summarize(await fleet.status());
      log(
        `tunnels down: p50 ${tunnels.downMs.p50} ms, p99 ${tunnels.downMs.p99} ms, max ${tunnels.downMs.max} ms`,
      );

      let ready: Readiness | undefined;
      if (flags.register) {
        ready = await readiness(rest, prefix);
        if (ready.tainted > 0)
          log(
            `taints: ${Object.entries(ready.taints)
              .map(([k, n]) => `${k}=${n}`)
              .join(" ")}`,
          );
        log(`apiserver: ${ready.ready}/${ready.nodes} Ready, ${ready.tainted} tainted`);
      }
      rest.close();
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
        tunnels,
        ...(ready && { readiness: ready }),
      };
      writeBenchReport(flags.report, report);
    } finally {
      await fleet?.stop();
    }
  });
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

runBench(program);
