import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { systemBinary } from "./binaries.js";
import { buildBusyboxOciArchive, PAUSE_IMAGE } from "./busybox-image.js";
import type { Component } from "./component.js";
import { EnvError } from "./errors.js";
import { ManagedProcess } from "./managed-process.js";
import { runCommand } from "./run-command.js";

/** containerd's CRI plugin keeps its images and containers in this namespace. */
export const CRI_NAMESPACE = "k8s.io";

export interface Containerd extends Component {
  /** unix socket path of the containerd gRPC API (CRI included). */
  readonly socket: string;
  /** Where CRI pod sandboxes that are not in the host's network namespace get their address. */
  readonly podNetwork: PodNetwork;
  /** Runs `ctr` against this containerd and returns its stdout. */
  ctr(args: readonly string[], namespace?: string): Promise<string>;
}

/**
 * The pods' network: a bridge of this environment's own, with the first address of its /24 on the
 * host side, so the host reaches every pod directly. No NAT, no route beyond the /24 in the pods, no
 * gateway: the CNI bridge plugin's isGateway would also switch on the host's net.ipv4.ip_forward.
 */
export interface PodNetwork {
  /** e.g. "edgefleet0". */
  readonly bridge: string;
  /** e.g. "10.88.0.0/24". */
  readonly subnet: string;
  /** The host's address on the bridge, e.g. "10.88.0.1". */
  readonly hostAddress: string;
}

/** Bridges edgefleet0..N with subnets 10.88.0.0/24..10.88.N.0/24: one per running environment. */
const MAX_POD_BRIDGES = 32;

/** The CNI network list for containerd's CRI plugin (loopback it adds itself). */
export function renderCniConfig(network: PodNetwork, ipamDir: string): string {
  return JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "edgefleet",
      plugins: [
        {
          type: "bridge",
          bridge: network.bridge,
          isGateway: false,
          ipMasq: false,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: network.subnet, gateway: network.hostAddress }]],
            dataDir: ipamDir,
          },
        },
      ],
    },
    null,
    2,
  );
}

/**
 * Creates the first free bridge of edgefleet0..N and puts the host's address on it. Free means the
 * device does not exist: `ip link add` fails for the loser when two environments start at once.
 */
async function createPodBridge(): Promise<PodNetwork> {
  const ip = systemBinary("ip", "iproute2");
  for (let i = 0; i < MAX_POD_BRIDGES; i++) {
    const bridge = `edgefleet${i}`;
    if (existsSync(`/sys/class/net/${bridge}`)) continue;
    try {
      await runCommand(ip, ["link", "add", bridge, "type", "bridge"]);
    } catch (err) {
      if (existsSync(`/sys/class/net/${bridge}`)) continue; // another environment took it first
      throw err;
    }
    const network = { bridge, subnet: `10.88.${i}.0/24`, hostAddress: `10.88.${i}.1` };
    try {
      await runCommand(ip, ["addr", "add", `${network.hostAddress}/24`, "dev", bridge]);
      await runCommand(ip, ["link", "set", bridge, "up"]);
    } catch (err) {
      await deletePodBridge(network);
      throw err;
    }
    return network;
  }
  throw new EnvError(
    `no free pod bridge: edgefleet0..${MAX_POD_BRIDGES - 1} all exist (stale ones: ip link del)`,
  );
}

async function deletePodBridge(network: PodNetwork): Promise<void> {
  if (!existsSync(`/sys/class/net/${network.bridge}`)) return;
  await runCommand(systemBinary("ip", "iproute2"), ["link", "del", network.bridge]);
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
  # CRI gives sandboxes oom_score_adj -998; runc cannot set it without CAP_SYS_RESOURCE, which
  # root here lacks ("nsexec: failed to update /proc/self/oom_score_adj: Permission denied"). This
  # clamps every container's score to containerd's own.
  restrict_oom_score_adj = true
  # Pod network namespaces are mounted below state/ rather than /run/netns, where unmountUnder()
  # finds (and releases) those a failed test left behind.
  netns_mounts_under_state_dir = true

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
 * Starts Debian's containerd (root, runc) on a private socket and state directory, with a CNI
 * bridge network for pods (see PodNetwork), and imports the locally built busybox and pause images
 * into the CRI namespace.
 */
export async function startContainerd(dir: string): Promise<Containerd> {
  mkdirSync(join(dir, "cni", "net.d"), { recursive: true });
  const podNetwork = await createPodBridge();
  try {
    writeFileSync(
      join(dir, "cni", "net.d", "10-edgefleet.conflist"),
      renderCniConfig(podNetwork, join(dir, "cni", "ipam")),
    );
    return await startContainerdProcess(dir, podNetwork);
  } catch (err) {
    await deletePodBridge(podNetwork).catch(() => undefined);
    throw err;
  }
}

async function startContainerdProcess(dir: string, podNetwork: PodNetwork): Promise<Containerd> {
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
      // The pods' veths went with their network namespaces; the bridge is the last of the network.
      await deletePodBridge(podNetwork);
    }
  };
  return {
    name: "containerd",
    logFile: proc.spec.logFile,
    socket,
    podNetwork,
    ctr,
    stop,
    get running() {
      return proc.running;
    },
  };
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
