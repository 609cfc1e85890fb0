import { join } from "node:path";
import type { Cloudcore } from "../cloudcore/cloudcore.js";
import { EdgecoreConfigSchema, type EdgecoreConfig, type EdgecoreConfigInput } from "../edgecore/config.js";
import { Labels } from "../edgecore/edged/runtime-config.js";
import { joinCloud, type NodeCredentials } from "../edgecore/hub/join.js";
import { systemBinary } from "../scripts/env/binaries.js";
import { BUSYBOX_IMAGE } from "../scripts/env/busybox-image.js";
import { runCommand } from "../scripts/env/run-command.js";

/** Joins `nodeName` to a test cloudcore with a fresh token; certificates under `<work>/certs`. */
export async function joinTestNode(
  cloudcore: Cloudcore,
  nodeName: string,
  work: string,
): Promise<NodeCredentials> {
  const { token } = await cloudcore.tokens.create({ ttlSeconds: 600, description: `test node ${nodeName}` });
  return joinCloud({
    server: `127.0.0.1:${cloudcore.certificates.port}`,
    token,
    nodeName,
    certDir: join(work, "certs"),
  });
}

/**
 * An edgecore config for a test: everything under `work`, the node at 127.0.0.1, any free
 * MetaServer port, short intervals so the cloud sees changes within a second or two.
 */
export function testEdgecoreConfig(
  settings: {
    readonly nodeName: string;
    readonly tunnelPort: number;
    readonly work: string;
    readonly containerdSocket: string;
  },
  overrides: Partial<EdgecoreConfigInput> = {},
): EdgecoreConfig {
  return EdgecoreConfigSchema.parse({
    nodeName: settings.nodeName,
    tunnelServer: `127.0.0.1:${settings.tunnelPort}`,
    certDir: join(settings.work, "certs"),
    dataDir: join(settings.work, "data"),
    podLogDir: join(settings.work, "logs"),
    containerdSocket: settings.containerdSocket,
    nodeIP: "127.0.0.1",
    metaServerPort: 0,
    heartbeatInterval: "1s",
    leaseRenewInterval: "2s",
    nodeStatusInterval: "2s",
    podSyncInterval: "500ms",
    ...overrides,
  });
}

/**
 * Removes the containers edged made for `nodeName` on the test containerd: containers outlive
 * edgecore by design (offline autonomy), so a test removes its own.
 */
export async function removeNodeContainers(containerdSocket: string, nodeName: string): Promise<void> {
  const ctr = (args: string[]): Promise<string> =>
    runCommand(systemBinary("ctr", "containerd"), [
      "--address",
      containerdSocket,
      "--namespace",
      "k8s.io",
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

/**
 * A busybox pod for stream tests, bound to `nodeName`: its log starts with `started-<marker>` and
 * then says `tick <n>` five times a second; a busybox httpd serves `hello-<marker>` on port 8080.
 */
export function tickerPod(name: string, nodeName: string, marker: string): Record<string, unknown> {
  return {
    metadata: { name },
    spec: {
      nodeName,
      automountServiceAccountToken: false,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: "app",
          image: BUSYBOX_IMAGE,
          command: [
            "sh",
            "-c",
            `mkdir -p /www && echo hello-${marker} > /www/index.html && httpd -p 8080 -h /www && ` +
              `echo started-${marker}; i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done`,
          ],
        },
      ],
    },
  };
}
