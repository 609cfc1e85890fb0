import { Command, InvalidArgumentError } from "commander";
import { pino } from "pino";
import { loadEdgecoreConfig } from "../config.js";
import { Edgecore } from "../edgecore.js";
import { loadCredentials } from "../hub/join.js";

const port = (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) > 65535)
    throw new InvalidArgumentError(`${JSON.stringify(value)} is not a port number`);
  return Number(value);
};

const label = (value: string, previous: Record<string, string> | undefined): Record<string, string> => {
  const at = value.indexOf("=");
  if (at <= 0) throw new InvalidArgumentError(`${JSON.stringify(value)} is not key=value`);
  return { ...previous, [value.slice(0, at)]: value.slice(at + 1) };
};

interface RunFlags {
  config?: string;
  nodeName?: string;
  tunnelServer?: string;
  cloud?: string;
  certDir?: string;
  dataDir?: string;
  podLogDir?: string;
  containerdSocket?: string;
  nodeIp?: string;
  label?: Record<string, string>;
  hostNetworkOnly?: boolean;
  metaServerPort?: number;
  mqttBroker?: string;
  logLevel?: string;
}

/** `edgecore run`: the edge agent, until SIGINT/SIGTERM. */
export function runCommand(): Command {
  return new Command("run")
    .description(
      "run the edge agent: tunnel, SQLite metadata and MetaServer, pods on containerd, device twins",
    )
    .option("--config <file>", "YAML config file (flags override it)")
    .option("--node-name <name>", "this node's name")
    .option("--tunnel-server <host:port>", "cloudhub's tunnel address (KubeEdge's 10000)")
    .option("--cloud <kind>", "edgefleet (default) or kubeedge")
    .option("--cert-dir <dir>", "where `edgecore join` stored ca.crt, node.crt and node.key")
    .option("--data-dir <dir>", "SQLite database and pod volumes")
    .option("--pod-log-dir <dir>", "container logs (the kubelet's /var/log/pods)")
    .option("--containerd-socket <path>", "containerd's socket (CRI)")
    .option("--node-ip <ip>", "the node's InternalIP")
    .option("--label <key=value>", "a Node label (repeatable)", label)
    .option("--host-network-only", "run every pod in the node's network namespace (no CNI)")
    .option("--meta-server-port <port>", "the loopback MetaServer's port (0: any free one)", port)
    .option("--mqtt-broker <url>", "MQTT broker for device twins (devices are off without one)")
    .option("--log-level <level>", "fatal, error, warn, info, debug or trace")
    .action(async (flags: RunFlags) => {
      const config = loadEdgecoreConfig(flags.config, {
        nodeName: flags.nodeName,
        tunnelServer: flags.tunnelServer,
        cloud: flags.cloud,
        certDir: flags.certDir,
        dataDir: flags.dataDir,
        podLogDir: flags.podLogDir,
        containerdSocket: flags.containerdSocket,
        nodeIP: flags.nodeIp,
        labels: flags.label,
        hostNetworkOnly: flags.hostNetworkOnly,
        metaServerPort: flags.metaServerPort,
        mqttBroker: flags.mqttBroker,
        logLevel: flags.logLevel,
      });
      const log = pino({ level: config.logLevel, base: { component: "edgecore" } });
      const edgecore = new Edgecore({
        config,
        credentials: loadCredentials(config.certDir),
        log,
        processMetrics: true,
      });
      await edgecore.start();
      process.stderr.write(`edgecore ${config.nodeName} running; MetaServer ${edgecore.metaServer.url}\n`);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      log.info("stopping (containers keep running)");
      await edgecore.stop();
    });
}
