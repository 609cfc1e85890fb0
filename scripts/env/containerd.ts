import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemBinary } from "./binaries.js";
import { buildBusyboxOciArchive, PAUSE_IMAGE } from "./busybox-image.js";
import type { Component } from "./component.js";
import { ManagedProcess } from "./managed-process.js";
import { runCommand } from "./run-command.js";

/** containerd's CRI plugin keeps its images and containers in this namespace. */
export const CRI_NAMESPACE = "k8s.io";

export interface Containerd extends Component {
  /** unix socket path of the containerd gRPC API (CRI included). */
  readonly socket: string;
  /** Runs `ctr` against this containerd and returns its stdout. */
  ctr(args: readonly string[], namespace?: string): Promise<string>;
}

/** Renders a containerd 1.6 config whose root, state and sockets all live under `dir`. */
export function renderContainerdConfig(dir: string): string {
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  return `version = 2
root = "${join(dir, "root")}"
state = "${join(dir, "state")}"
# Snapshotters this machine cannot use only add start-up errors.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = "${join(dir, "containerd.sock")}"

[ttrpc]
  address = "${join(dir, "containerd.sock.ttrpc")}"

[plugins."io.containerd.internal.v1.opt"]
  path = "${join(dir, "opt")}"

[${cri}]
  sandbox_image = "${PAUSE_IMAGE}"
  enable_selinux = false

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "${join(dir, "cni", "net.d")}"
`;
}

/**
 * Starts Debian's containerd (root, runc) on a private socket and state directory, and imports the
 * locally built busybox and pause images into the CRI namespace.
 */
export async function startContainerd(dir: string): Promise<Containerd> {
  mkdirSync(join(dir, "cni", "net.d"), { recursive: true });
  const config = join(dir, "config.toml");
  writeFileSync(config, renderContainerdConfig(dir));
  const socket = join(dir, "containerd.sock");
  const ctrBinary = systemBinary("ctr", "containerd");
  const ctr = async (args: readonly string[], namespace = CRI_NAMESPACE): Promise<string> =>
    (
      await runCommand(ctrBinary, ["--address", socket, "--namespace", namespace, ...args], {
        timeoutMs: 120_000,
      })
    ).stdout;
  const proc = new ManagedProcess({
    name: "containerd",
    command: systemBinary("containerd", "containerd"),
    args: ["--config", config, "--log-level", "warn"],
    logFile: join(dir, "containerd.log"),
    ready: async () => {
      await ctr(["version"]);
      return true;
    },
    readyTimeoutMs: 30_000,
    stopTimeoutMs: 15_000,
  });
  await proc.start();
  try {
    const archive = join(dir, "busybox-oci.tar");
    await buildBusyboxOciArchive(archive);
    await ctr(["images", "import", "--all-platforms", archive]);
  } catch (err) {
    await proc.stop();
    throw err;
  }
  const stop = async (): Promise<void> => {
    try {
      if (proc.state.type === "running") await removeAllTasks(ctr);
    } finally {
      await proc.stop();
      await unmountUnder(dir);
    }
  };
  return { name: "containerd", logFile: proc.spec.logFile, socket, ctr, stop };
}

/**
 * Kills every task in every namespace: shims outlive containerd, and a test that failed midway
 * must not leave containers running.
 */
async function removeAllTasks(ctr: Containerd["ctr"]): Promise<void> {
  const namespaces = (await ctr(["namespaces", "ls", "-q"])).split("\n").filter((n) => n !== "");
  for (const namespace of namespaces) {
    const tasks = (await ctr(["tasks", "ls", "-q"], namespace)).split("\n").filter((t) => t !== "");
    for (const task of tasks) {
      await ctr(["tasks", "delete", "--force", task], namespace).catch(() => undefined);
    }
    const containers = (await ctr(["containers", "ls", "-q"], namespace)).split("\n").filter((c) => c !== "");
    for (const container of containers) {
      await ctr(["containers", "delete", container], namespace).catch(() => undefined);
    }
  }
}

/** Lazily unmounts whatever containerd left mounted below `dir` (overlay rootfs, shm). */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .filter((target) => target.startsWith(dir + "/"))
    .sort((a, b) => b.length - a.length);
  for (const target of mounts) await runCommand("umount", ["-l", target]).catch(() => undefined);
}
