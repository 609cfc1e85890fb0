import { readFileSync } from "node:fs";
import { KubeConfig } from "@kubernetes/client-node";
import { Command, InvalidArgumentError } from "commander";
import { pino } from "pino";
import { Cloudcore } from "../cloudcore.js";
import { loadCloudcoreConfig } from "../config.js";

const int = (value: string): number => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${JSON.stringify(value)} is not a port number`);
  return Number(value);
};
const number = (value: string): number => {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n))
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not a number`);
  return n;
};
const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

interface RunFlags {
  config?: string;
  kubeconfig?: string;
  namespace?: string;
  advertiseAddress?: string[];
  dnsName?: string[];
  host?: string;
  tunnelPort?: number;
  kubeedgePort?: number;
  certificatePort?: number;
  metricsPort?: number;
  metricsHost?: string;
  streamPort?: number;
  streamClientCaFile?: string;
  redisUrl?: string;
  redisTlsCaFile?: string;
  redisPasswordFile?: string;
  redisSentinelPasswordFile?: string;
  offlineGrace?: string;
  maxAutonomy?: string;
  logLevel?: string;
  deviceProtocol?: string[];
  /** Both --manage-crds and --no-manage-crds exist: with only the --no- form, commander would
   * default this to true and override a config file's `manageCrds: false`. */
  manageCrds?: boolean;
  deviceWebhookPort?: number;
  deviceWebhookUrl?: string;
  replicaId?: string;
  replicaAddress?: string;
  admissionRate?: number;
  admissionBurst?: number;
  edgeNodeSelector?: string;
  rebalanceInterval?: string;
  rebalanceMaxPerRound?: number;
  livenessTtl?: string;
}

/** `cloudcore run`: the server: certificate server, tunnels, controllers, metrics. */
export function runCommand(): Command {
  return new Command("run")
    .description("run cloudcore until SIGINT/SIGTERM")
    .option("--config <file>", "YAML config (keys as the long flags in camelCase); flags override it")
    .option("--kubeconfig <path>", "kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
    .option("--namespace <ns>", "namespace of cloudcore's Secrets (default kubeedge)")
    .option(
      "--advertise-address <ip>",
      "address edges dial, in the serving certificate (repeatable)",
      collect,
    )
    .option("--dns-name <name>", "DNS name edges dial, in the serving certificate (repeatable)", collect)
    .option("--host <ip>", "listen address (default 0.0.0.0)")
    .option("--tunnel-port <port>", "edgefleet tunnel port (default 10000)", int)
    .option("--kubeedge-port <port>", "KubeEdge-compatible tunnel port, 0 = off (default 10010)", int)
    .option("--certificate-port <port>", "join/certificate port (default 10002)", int)
    .option("--metrics-port <port>", "/metrics, /healthz, /readyz port, 0 = off (default 9091)", int)
    .option("--metrics-host <ip>", "listen address of /metrics, /healthz, /readyz (default: --host)")
    .option(
      "--stream-port <port>",
      "CloudStream port (kubectl logs/exec), the DNAT target, 0 = off (default 10003)",
      int,
    )
    .option(
      "--stream-client-ca-file <file>",
      "CA of the apiserver's kubelet client certificate (default: the kubeconfig's cluster CA)",
    )
    .option(
      "--redis-url <url>",
      "Redis for ownership and acked versions (default: memory): redis://[user:password@]host:port[/db], " +
        "rediss:// (TLS), redis+sentinel://host:port[,host:port…]/<master>[/db][?sentinelPassword=…], " +
        "redis+cluster://host:port[,host:port…] (rediss+… for TLS)",
    )
    .option("--redis-tls-ca-file <file>", "CA bundle for a TLS Redis URL (default: the system's roots)")
    .option("--redis-password-file <file>", "file holding the Redis password (instead of one in the URL)")
    .option(
      "--redis-sentinel-password-file <file>",
      "file holding the sentinels' own password (sentinel URLs)",
    )
    .option("--offline-grace <duration>", "offline time before an edge node is tainted (default 40s)")
    .option(
      "--max-autonomy <duration>",
      "offline time after which Kubernetes may evict, 0 = never (default 0)",
    )
    .option(
      "--device-protocol <name>",
      "protocol a Device may use (repeatable; default KubeEdge's mappers)",
      collect,
    )
    .option("--manage-crds", "install and update the device CRDs (default)")
    .option("--no-manage-crds", "leave the device CRDs to the installer (Helm chart); wait for them")
    .option("--device-webhook-port <port>", "Device validating webhook port, 0 = off (default 10005)", int)
    .option("--device-webhook-url <url>", "URL the apiserver calls for the webhook")
    .option("--replica-id <id>", "run as a replica of a cloudcore cluster (needs --redis-url)")
    .option("--replica-address <ip>", "address other components reach this replica at")
    .option("--admission-rate <n>", "new tunnels admitted per second, 0 = unlimited (default 500)", number)
    .option("--admission-burst <n>", "tunnels admitted at once (default 1000)", int)
    .option("--edge-node-selector <selector>", "extra label selector for the edge nodes served")
    .option("--rebalance-interval <duration>", "how often load is rebalanced, 0 = never (default 5s)")
    .option(
      "--rebalance-max-per-round <n>",
      "tunnels an overloaded replica closes per rebalancing round (default 50)",
      int,
    )
    .option(
      "--liveness-ttl <duration>",
      "a replica silent this long is dead; its nodes are taken over (default 6s)",
    )
    .option("--log-level <level>", "fatal|error|warn|info|debug|trace (default info)")
    .action(async (flags: RunFlags) => {
      const config = loadCloudcoreConfig(flags.config, {
        kubeconfig: flags.kubeconfig,
        namespace: flags.namespace,
        advertiseAddresses: flags.advertiseAddress,
        dnsNames: flags.dnsName,
        host: flags.host,
        tunnelPort: flags.tunnelPort,
        kubeedgePort: flags.kubeedgePort,
        certificatePort: flags.certificatePort,
        metricsPort: flags.metricsPort,
        metricsHost: flags.metricsHost,
        streamPort: flags.streamPort,
        streamClientCaFile: flags.streamClientCaFile,
        redisUrl: flags.redisUrl,
        redisTlsCaFile: flags.redisTlsCaFile,
        redisPasswordFile: flags.redisPasswordFile,
        redisSentinelPasswordFile: flags.redisSentinelPasswordFile,
        offlineGrace: flags.offlineGrace,
        maxAutonomy: flags.maxAutonomy,
        logLevel: flags.logLevel,
        deviceProtocols: flags.deviceProtocol,
        manageCrds: flags.manageCrds,
        deviceWebhookPort: flags.deviceWebhookPort,
        deviceWebhookUrl: flags.deviceWebhookUrl,
        replicaId: flags.replicaId,
        replicaAddress: flags.replicaAddress,
        admissionRate: flags.admissionRate,
        admissionBurst: flags.admissionBurst,
        edgeNodeSelector: flags.edgeNodeSelector,
        rebalanceInterval: flags.rebalanceInterval,
        rebalanceMaxPerRound: flags.rebalanceMaxPerRound,
        livenessTtl: flags.livenessTtl,
      });
      const logger = pino({ level: config.logLevel });
      const kubeConfig = new KubeConfig();
      if (config.kubeconfig) kubeConfig.loadFromFile(config.kubeconfig);
      else kubeConfig.loadFromDefault();
      const cloudcore = await Cloudcore.start({
        kubeConfig,
        namespace: config.namespace,
        advertise: { ipAddresses: config.advertiseAddresses, dnsNames: config.dnsNames },
        host: config.host,
        tunnelPort: config.tunnelPort,
        kubeedgePort: config.kubeedgePort === 0 ? null : config.kubeedgePort,
        certificatePort: config.certificatePort,
        metricsPort: config.metricsPort === 0 ? null : config.metricsPort,
        ...(config.metricsHost !== undefined && { metricsHost: config.metricsHost }),
        processMetrics: true,
        stream:
          config.streamPort === 0
            ? null
            : {
                port: config.streamPort,
                ...(config.streamClientCaFile !== undefined && {
                  clientCaPem: readFileSync(config.streamClientCaFile, "utf8"),
                }),
              },
        ...(config.redisUrl !== undefined && { redisUrl: config.redisUrl }),
        ...(config.redisTlsCaFile !== undefined && { redisTlsCaFile: config.redisTlsCaFile }),
        ...(config.redisPasswordFile !== undefined && { redisPasswordFile: config.redisPasswordFile }),
        ...(config.redisSentinelPasswordFile !== undefined && {
          redisSentinelPasswordFile: config.redisSentinelPasswordFile,
        }),
        offlineGraceMs: config.offlineGrace,
        maxAutonomyMs: config.maxAutonomy,
        leaseRenewIntervalMs: config.leaseRenewInterval,
        ...(config.deviceProtocols !== undefined && { deviceProtocols: config.deviceProtocols }),
        manageCrds: config.manageCrds,
        deviceWebhook:
          config.deviceWebhookPort === 0
            ? null
            : {
                port: config.deviceWebhookPort,
                ...(config.deviceWebhookUrl !== undefined && { url: config.deviceWebhookUrl }),
              },
        admission:
          config.admissionRate === 0
            ? null
            : { ratePerSecond: config.admissionRate, burst: config.admissionBurst },
        ...(config.edgeNodeSelector !== undefined && { edgeNodeSelector: config.edgeNodeSelector }),
        ...(config.replicaId !== undefined && {
          cluster: {
            replicaId: config.replicaId,
            ...(config.replicaAddress !== undefined && { address: config.replicaAddress }),
            rebalanceIntervalMs: config.rebalanceInterval,
            rebalanceMaxPerRound: config.rebalanceMaxPerRound,
            livenessTtlMs: config.livenessTtl,
          },
        }),
        logger,
      });
      logger.info(
        {
          tunnelPort: cloudcore.hub.port,
          kubeedgePort: cloudcore.hub.kubeedgePort,
          certificatePort: cloudcore.certificates.port,
          streamPort: cloudcore.stream?.server.port,
          kubeletPort: cloudcore.cluster?.tunnelPorts.port ?? cloudcore.stream?.server.port,
        },
        "cloudcore running",
      );
      await new Promise<void>((resolve) => {
        process.once("SIGINT", resolve);
        process.once("SIGTERM", resolve);
      });
      logger.info("stopping");
      await cloudcore.close();
    });
}
