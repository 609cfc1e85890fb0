import { join } from "node:path";
import type { Cloudcore } from "../cloudcore/cloudcore.js";
import { EdgecoreConfigSchema, type EdgecoreConfig, type EdgecoreConfigInput } from "../edgecore/config.js";
import { joinCloud, type NodeCredentials } from "../edgecore/hub/join.js";
import { BUSYBOX_IMAGE } from "../scripts/env/busybox-image.js";
export { removeNodeContainers } from "../scripts/env/edgecore-node.js";

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
