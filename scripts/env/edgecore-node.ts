/**
 * A real edge node on this machine: `edgecore join` with a join token (certificate from the
 * certificate server), then `edgecore run` as a process of its own, running its pods on the
 * environment's containerd. What the main job joins to the HA cloudcore beside the simulated fleet.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { Labels } from "../../edgecore/edged/runtime-config.js";
import { systemBinary } from "./binaries.js";
import type { Component } from "./component.js";
import { entryPointCommand } from "./entry-point.js";
import { httpOk } from "./http-probe.js";
import { ManagedProcess } from "./managed-process.js";
import { freePort } from "./ports.js";
import { runCommand } from "./run-command.js";

export interface EdgecoreNodeSpec {
  readonly nodeName: string;
  /** Certificates, SQLite database, pod logs and the log file. */
  readonly dir: string;
  /** host:port of the certificate server (the balancer). */
  readonly certificateAddress: string;
  /** host:port of the tunnel server (the balancer). */
  readonly tunnelAddress: string;
  readonly token: string;
  readonly containerdSocket: string;
  /** The node's InternalIP: where the apiserver dials its "kubelet" (DNAT-ed to the owning replica). */
  readonly nodeIP: string;
  readonly labels?: Readonly<Record<string, string>>;
}

export interface EdgecoreNode extends Component {
  readonly nodeName: string;
  /** The node's loopback MetaServer (KubeEdge's metaserver), e.g. http://127.0.0.1:port. */
  readonly metaServerUrl: string;
  /** Stops edgecore, then removes the containers it made (they outlive edgecore by design). */
  stop(): Promise<void>;
}

export async function startEdgecoreNode(spec: EdgecoreNodeSpec): Promise<EdgecoreNode> {
  mkdirSync(spec.dir, { recursive: true });
  const certDir = join(spec.dir, "certs");
  const { command, args } = entryPointCommand("edgecore");
  // The join proves the token and the tunnel before the agent starts for good.
  await runCommand(
    command,
    [
      ...args,
      "join",
      ...["--cloudcore", spec.certificateAddress, "--tunnel", spec.tunnelAddress],
      ...["--token", spec.token, "--node-name", spec.nodeName, "--cert-dir", certDir],
    ],
    { timeoutMs: 60_000 },
  );
  const metaPort = await freePort();
  const proc = new ManagedProcess({
    name: `edgecore-${spec.nodeName}`,
    command,
    args: [
      ...args,
      "run",
      ...["--node-name", spec.nodeName, "--tunnel-server", spec.tunnelAddress, "--cert-dir", certDir],
      ...["--data-dir", join(spec.dir, "data"), "--pod-log-dir", join(spec.dir, "pod-logs")],
      ...["--containerd-socket", spec.containerdSocket, "--node-ip", spec.nodeIP],
      ...["--meta-server-port", String(metaPort), "--log-level", "info"],
      ...Object.entries(spec.labels ?? {}).flatMap(([k, v]) => ["--label", `${k}=${v}`]),
    ],
    logFile: join(spec.dir, `edgecore-${spec.nodeName}.log`),
    // Ready: the tunnel is up and the node registered (the MetaServer's /readyz says so).
    ready: () => httpOk(`http://127.0.0.1:${metaPort}/readyz`),
    readyTimeoutMs: 60_000,
    stopTimeoutMs: 15_000,
  });
  await proc.start();
  return {
    name: proc.spec.name,
    logFile: proc.spec.logFile,
    nodeName: spec.nodeName,
    metaServerUrl: `http://127.0.0.1:${metaPort}`,
    get running() {
      return proc.running;
    },
    async stop() {
      await proc.stop();
      await removeNodeContainers(spec.containerdSocket, spec.nodeName);
    },
  };
}

/**
 * Removes the containers edged made for `nodeName` on containerd: containers outlive edgecore by
 * design (offline autonomy), so whoever started a node for a while removes them.
 */
export async function removeNodeContainers(containerdSocket: string, nodeName: string): Promise<void> {
  const ctr = (args: string[]): Promise<string> =>
    runCommand(systemBinary("ctr", "containerd"), [
      ...["--address", containerdSocket, "--namespace", "k8s.io"],
      ...args,
    ]).then((r) => r.stdout);
  const ids = (await ctr(["containers", "ls", "-q", `labels."${Labels.node}"==${nodeName}`]).catch(() => ""))
    .split("\n")
    .filter((id) => id !== "");
  for (const id of ids) {
    await ctr(["tasks", "delete", "--force", id]).catch(() => undefined);
    await ctr(["containers", "delete", id]).catch(() => undefined);
  }
}
