/**
 * MetaManager's hot path (`npm run bench:meta-store`): a cloud object message validated, written to
 * SQLite in its own transaction (WAL, synchronous FULL: an fsync per commit) and acked, as edgecore
 * does for every pod, ConfigMap and Secret. Reports the latency per message (p50/p99, hdr-histogram)
 * and messages per second, on the disk under --dir.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import * as hdr from "hdr-histogram-js";
import { pino } from "pino";
import { createEdgecoreMetrics } from "../../edgecore/metrics.js";
import { openEdgeDatabase } from "../../edgecore/meta/database.js";
import { MetaManager } from "../../edgecore/meta/meta-manager.js";
import { MetaStore } from "../../edgecore/meta/meta-store.js";
import { Group, Operation, Source } from "../../protocol/constants.js";
import { newMessage } from "../../protocol/message.js";
import { positiveInt } from "../flags.js";
import { runBench, writeBenchReport } from "../fleet/bench-cluster.js";

interface Flags {
  messages: number;
  objects: number;
  dir: string;
  report: string;
}

/** A pod of realistic size (~2.5 KB of JSON, like a Deployment's pod with a service-account volume). */
function pod(name: string, rv: number): Record<string, unknown> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name,
      namespace: "bench",
      uid: `uid-${name}`,
      resourceVersion: String(rv),
      labels: { app: "bench", "pod-template-hash": "5d8c7b9f6" },
      ownerReferences: [
        { apiVersion: "apps/v1", kind: "ReplicaSet", name: "bench-5d8c7b9f6", uid: "rs-uid" },
      ],
    },
    spec: {
      nodeName: "edge-1",
      containers: [
        {
          name: "app",
          image: "docker.io/edgefleet/busybox:1.35",
          command: ["sh", "-c", "exec sleep 3600"],
          env: [{ name: "MODE", value: "bench" }],
          resources: { limits: { cpu: "250m", memory: "64Mi" } },
          volumeMounts: [
            { name: "kube-api-access", mountPath: "/var/run/secrets/kubernetes.io/serviceaccount" },
          ],
        },
      ],
      volumes: [
        {
          name: "kube-api-access",
          projected: {
            sources: [
              { serviceAccountToken: { path: "token", expirationSeconds: 3607 } },
              { configMap: { name: "kube-root-ca.crt", items: [{ key: "ca.crt", path: "ca.crt" }] } },
              {
                downwardAPI: {
                  items: [{ path: "namespace", fieldRef: { fieldPath: "metadata.namespace" } }],
                },
              },
            ],
          },
        },
      ],
      tolerations: [
        {
          key: "node.kubernetes.io/not-ready",
          operator: "Exists",
          effect: "NoExecute",
          tolerationSeconds: 300,
        },
      ],
    },
    status: { phase: "Pending", qosClass: "Guaranteed" },
  };
}

function main(flags: Flags): void {
  const dir = mkdtempSync(join(flags.dir, "edgefleet-bench-meta-"));
  const db = openEdgeDatabase(join(dir, "edgecore.db"));
  try {
    let acks = 0;
    const meta = new MetaManager(
      new MetaStore(db),
      { send: () => (acks++, true) },
      createEdgecoreMetrics(),
      pino({ level: "silent" }),
    );
    const latency = hdr.build({
      lowestDiscernibleValue: 1,
      highestTrackableValue: 10_000_000,
      numberOfSignificantValueDigits: 3,
    });
    const started = performance.now();
    for (let i = 0; i < flags.messages; i++) {
      const name = `pod-${i % flags.objects}`;
      const message = newMessage({
        source: Source.EdgeController,
        group: Group.Resource,
        operation: i < flags.objects ? Operation.Insert : Operation.Update,
        resource: `bench/pod/${name}`,
        resourceVersion: String(i + 1),
        content: pod(name, i + 1),
      });
      const t0 = performance.now();
      meta.handle(message);
      latency.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    }
    const seconds = (performance.now() - started) / 1000;
    if (acks !== flags.messages) throw new Error(`${acks} acks for ${flags.messages} messages`);
    const us = (p: number): number => latency.getValueAtPercentile(p);
    writeBenchReport(flags.report, {
      benchmark: "meta-store",
      at: new Date().toISOString(),
      messages: flags.messages,
      objects: flags.objects,
      dir: flags.dir,
      synchronous: db.pragma("synchronous", { simple: true }),
      journal: db.pragma("journal_mode", { simple: true }),
      perMessageMs: { p50: us(50) / 1000, p99: us(99) / 1000, max: latency.maxValue / 1000 },
      messagesPerSecond: Math.round(flags.messages / seconds),
    });
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBench(
  new Command("bench:meta-store")
    .description("MetaManager: validate, store in SQLite (one fsync'd transaction each) and ack")
    .option("--messages <n>", "messages applied", positiveInt("--messages"), 5000)
    .option("--objects <n>", "distinct pods (the rest are updates)", positiveInt("--objects"), 500)
    .option("--dir <dir>", "where the database lives (its disk is what is measured)", tmpdir())
    .option("--report <file>", "JSON report", "reports/bench-meta-store.json")
    .action((flags: Flags) => main(flags)),
);
