/**
 * Rebalancing benchmark (`npm run bench:rebalance`): 3 `cloudcore run` replicas behind two HAProxy
 * processes (leastconn, a 4th backend configured but not yet running) carry N edges; then the 4th
 * replica starts. We measure how long until every replica is within ±10 % of the even share, how
 * many nodes moved, how often each reconnected, how long their tunnels were down, and whether any
 * node was ever without an owner record in Redis (sampled every 100 ms).
 */
import { Command } from "commander";
import { Redis } from "ioredis";
import { positiveInt } from "../flags.js";
import { Fleet } from "../fleet/clients.js";
import { ownerReader, untilAllOwned } from "../fleet/owners.js";
import { runBench, withBenchCluster, writeBenchReport, type BenchCluster } from "../fleet/bench-cluster.js";
import { replicaPorts } from "../fleet/replicas.js";
import { summarize } from "../fleet/summary.js";

interface Flags {
  nodes: number;
  clients: number;
  rebalanceInterval: string;
  maxPerRound: number;
  report: string;
}

const TOLERANCE = 0.1;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const countBy = (owners: readonly (string | undefined)[]): Record<string, number> => {
  const counts: Record<string, number> = {};
  for (const o of owners) counts[o ?? "(none)"] = (counts[o ?? "(none)"] ?? 0) + 1;
  return counts;
};
const balanced = (counts: Record<string, number>, replicas: readonly string[], total: number): boolean => {
  const share = total / replicas.length;
  return replicas.every((r) => {
    const n = counts[r] ?? 0;
    return n >= Math.floor(share * (1 - TOLERANCE)) && n <= Math.ceil(share * (1 + TOLERANCE));
  });
};

async function run(flags: Flags): Promise<void> {
  const log = (line: string): void => void process.stdout.write(line + "\n");
  const prefix = `rb${Date.now().toString(36)}`;
  await withBenchCluster("rebalance", {}, async (cluster) => {
    const { token, replicas, balancers, redisUrl } = cluster;
    let fleet: Fleet | undefined;
    try {
      const ids = ["r1", "r2", "r3", "r4"];
      const ports = await Promise.all(ids.map(() => replicaPorts()));
      const spec = (i: number): Parameters<BenchCluster["startReplica"]>[0] => ({
        id: ids[i] ?? "",
        livenessTtl: "6s",
        rebalanceInterval: flags.rebalanceInterval,
        rebalanceMaxPerRound: flags.maxPerRound,
        ...(ports[i] && { ports: ports[i] }),
      });
      for (let i = 0; i < 3; i++) await cluster.startReplica(spec(i));
      // The balancers know all four backends from the start, as a Service's endpoints would once the
      // new pod is ready; health checks keep r4 out until it listens.
      for (let i = 0; i < 2; i++)
        await cluster.startBalancer(ids.map((id, j) => ({ id, tunnel: ports[j]?.tunnel ?? 0 })));
      await sleep(1500); // first health checks: r4 marked down
      log(`3 replicas and 2 balancers up; ${flags.nodes} edges from ${flags.clients} client processes`);

      const started = await Fleet.start({
        nodes: flags.nodes,
        clients: flags.clients,
        token,
        certificatePorts: replicas.map((r) => r.certificates),
        tunnelPorts: balancers.map((b) => b.ports["tunnel"] ?? 0),
        register: false,
        prefix,
      });
      fleet = started.fleet;
      log(`${started.connected} edges connected in ${(started.elapsedMs / 1000).toFixed(1)} s`);

      const redis = new Redis(redisUrl);
      const names = Array.from({ length: flags.nodes }, (_, i) => `${prefix}-${i}`);
      const owners = ownerReader(redis, names);
      const before = await untilAllOwned(owners);
      log(`owners before: ${JSON.stringify(countBy(before))}`);

      // Sample the owner records every 100 ms from the start of r4 until the spread settles.
      await fleet.track();
      let sampling = true;
      let samples = 0;
      let ownerlessSamples = 0;
      const ownerless = new Map<number, number>(); // node index → consecutive samples without owner
      let longestOwnerlessSamples = 0;
      const ownerChanges = new Array<number>(names.length).fill(0);
      let last = before;
      const sampler = (async () => {
        while (sampling) {
          const now = await owners();
          samples++;
          now.forEach((o, i) => {
            if (o === undefined) {
              ownerlessSamples++;
              const streak = (ownerless.get(i) ?? 0) + 1;
              ownerless.set(i, streak);
              longestOwnerlessSamples = Math.max(longestOwnerlessSamples, streak);
            } else {
              ownerless.delete(i);
              if (o !== last[i]) ownerChanges[i] = (ownerChanges[i] ?? 0) + 1;
            }
          });
          last = now.map((o, i) => o ?? last[i]);
          await sleep(100);
        }
      })();

      const t0 = Date.now();
      await cluster.startReplica(spec(3));
      log(`r4 ready after ${((Date.now() - t0) / 1000).toFixed(1)} s; waiting for the spread to settle`);
      let balancedMs = -1;
      let counts: Record<string, number> = {};
      for (;;) {
        counts = countBy(last);
        const status = await fleet.status();
        const allUp = status.every((s) => s.connected === s.total);
        if (allUp && balanced(counts, ids, flags.nodes)) {
          balancedMs = Date.now() - t0;
          break;
        }
        if (Date.now() - t0 > 600_000)
          throw new Error(`not balanced within 10 minutes: ${JSON.stringify(counts)}`);
        await sleep(250);
      }
      log(`within ±10 % after ${(balancedMs / 1000).toFixed(1)} s: ${JSON.stringify(counts)}`);
      // Stay a few rounds longer: a balanced cluster must not keep shedding.
      await sleep(3 * (Number.parseFloat(flags.rebalanceInterval) || 2) * 1000);
      sampling = false;
      await sampler;
      const settled = countBy(await owners());
      const tunnels = summarize(await fleet.status());
      redis.disconnect();
      log(
        `moved ${tunnels.moved}; reconnects per moved node ${JSON.stringify(tunnels.byReconnects)}; down p50 ${tunnels.downMs.p50} ms p99 ${tunnels.downMs.p99} ms max ${tunnels.downMs.max} ms`,
      );
      log(
        `owner records missing: ${ownerlessSamples} node-samples of ${samples} samples; settled ${JSON.stringify(settled)}`,
      );

      const report = {
        benchmark: "rebalance",
        date: new Date().toISOString(),
        nodes: flags.nodes,
        replicas: "3 → 4",
        balancers: 2,
        rebalanceInterval: flags.rebalanceInterval,
        maxPerRound: flags.maxPerRound,
        before: countBy(before),
        balancedSeconds: balancedMs / 1000,
        atBalance: counts,
        settled,
        stillBalanced: balanced(settled, ids, flags.nodes),
        tunnels,
        maxOwnerChangesPerNode: Math.max(...ownerChanges),
        ownerRecordSamples: samples,
        ownerlessNodeSamples: ownerlessSamples,
        longestOwnerlessMs: longestOwnerlessSamples * 100,
      };
      writeBenchReport(flags.report, report);
    } finally {
      await fleet?.stop();
    }
  });
}

const program = new Command("bench:rebalance")
  .option("--nodes <n>", "edge nodes", positiveInt("--nodes"), 9000)
  .option(
    "--clients <n>",
    "client processes (one 127.0.2.x source address each)",
    positiveInt("--clients"),
    4,
  )
  .option("--rebalance-interval <duration>", "replicas' --rebalance-interval", "2s")
  .option("--max-per-round <n>", "replicas' --rebalance-max-per-round", positiveInt("--max-per-round"), 100)
  .option("--report <path>", "JSON report", "reports/bench-rebalance.json")
  .action((flags: Flags) => run(flags));

runBench(program);
