import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { ETCD_BIN_DIR, builtBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { httpGet } from "./http-probe.js";
import { ManagedProcess } from "./managed-process.js";
import { freePorts } from "./ports.js";

export interface Etcd extends Component {
  /** Client URL, e.g. http://127.0.0.1:23790 */
  readonly clientUrl: string;
}

/** Starts a single-member etcd 3.6 (built from its Go module) with its data in `dir`. */
export async function startEtcd(dir: string): Promise<Etcd> {
  mkdirSync(dir, { recursive: true });
  const [clientPort, peerPort] = await freePorts(2);
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const proc = new ManagedProcess({
    name: "etcd",
    command: builtBinary(ETCD_BIN_DIR, "etcd"),
    args: [
      "--name=edgefleet",
      `--data-dir=${join(dir, "data")}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=edgefleet=${peerUrl}`,
      "--initial-cluster-state=new",
      // A test cluster: fsync per write only slows the suite and buys nothing on a temp dir.
      "--unsafe-no-fsync",
      "--quota-backend-bytes=8589934592",
      "--log-level=warn",
    ],
    logFile: join(dir, "etcd.log"),
    ready: async () => {
      const res = await httpGet(`${clientUrl}/health`);
      return res.status === 200 && res.body.includes('"health":"true"');
    },
    readyTimeoutMs: 30_000,
  });
  await proc.start();
  return {
    name: "etcd",
    logFile: proc.spec.logFile,
    clientUrl,
    stop: () => proc.stop(),
    get running() {
      return proc.running;
    },
  };
}
