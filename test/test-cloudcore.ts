import type { KubeConfig } from "@kubernetes/client-node";
import { Cloudcore, type CloudcoreOptions } from "../cloudcore/cloudcore.js";

/**
 * A cloudcore for a test: on 127.0.0.1, free ports, no KubeEdge door, metrics or device webhook
 * unless asked for, CloudStream on a free port, on the given Redis (none when undefined). `overrides` sets anything else
 * (cluster, selectors, ...).
 */
export function startTestCloudcore(
  kubeConfig: KubeConfig,
  redisUrl: string | undefined,
  overrides: Partial<CloudcoreOptions> & Pick<CloudcoreOptions, "logger">,
): Promise<Cloudcore> {
  return Cloudcore.start({
    kubeConfig,
    advertise: { dnsNames: [], ipAddresses: ["127.0.0.1"] },
    host: "127.0.0.1",
    tunnelPort: 0,
    certificatePort: 0,
    kubeedgePort: null,
    metricsPort: null,
    deviceWebhook: null,
    stream: { port: 0 },
    ...(redisUrl !== undefined && { redisUrl }),
    ...overrides,
  });
}
