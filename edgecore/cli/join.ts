import { Command, InvalidArgumentError } from "commander";
import { pino } from "pino";
import { isNodeName, parseHostPort } from "../../protocol/names.js";
import { EdgeHub } from "../hub/edgehub.js";
import { joinCloud } from "../hub/join.js";

const TUNNEL_CHECK_TIMEOUT_MS = 30_000;

function nodeNameFlag(value: string): string {
  if (!isNodeName(value)) {
    throw new InvalidArgumentError(`"${value}" is not a valid node name (lowercase DNS-1123 subdomain)`);
  }
  return value;
}

function hostPortFlag(value: string): string {
  if (!parseHostPort(value)) throw new InvalidArgumentError(`"${value}" is not host:port`);
  return value;
}

/** The cloudcore host at KubeEdge's tunnel port, 10000. */
function defaultTunnel(cloudcore: string): string {
  const host = parseHostPort(cloudcore)?.host ?? "127.0.0.1";
  return host.includes(":") ? `[${host}]:10000` : `${host}:10000`;
}

interface JoinFlags {
  readonly cloudcore: string;
  readonly token: string;
  readonly nodeName: string;
  readonly certDir: string;
  readonly tunnel?: string;
  readonly connect: boolean;
}

/**
 * `edgecore join`: obtain this node's certificate from cloudcore with a join token, then open the
 * tunnel once with it to prove the node can connect.
 */
export function joinCommand(): Command {
  return new Command("join")
    .description("join the cloud: obtain and store this node's certificate, then check the tunnel with it")
    .requiredOption(
      "--cloudcore <host:port>",
      "cloudcore's certificate server (KubeEdge's port 10002)",
      hostPortFlag,
    )
    .requiredOption("--token <token>", "join token from `cloudcore token create`")
    .requiredOption("--node-name <name>", "this node's name", nodeNameFlag)
    .option("--cert-dir <dir>", "where ca.crt, node.crt and node.key are stored", "/etc/edgefleet/certs")
    .option(
      "--tunnel <host:port>",
      "cloudhub's tunnel address (default: the cloudcore host, port 10000)",
      hostPortFlag,
    )
    .option("--no-connect", "only obtain the certificate; do not check the tunnel")
    .action(async (flags: JoinFlags) => {
      const creds = await joinCloud({
        server: flags.cloudcore,
        token: flags.token,
        nodeName: flags.nodeName,
        certDir: flags.certDir,
      });
      process.stderr.write(
        `joined as ${flags.nodeName}; certificate ${creds.certFile}, key ${creds.keyFile}, CA ${creds.caFile}\n`,
      );
      if (!flags.connect) return;
      const tunnel = flags.tunnel ?? defaultTunnel(flags.cloudcore);
      const hub = new EdgeHub({
        server: tunnel,
        nodeName: flags.nodeName,
        credentials: creds,
        logger: pino({ level: "warn" }),
        backoff: { initialMs: 500, maxMs: 5_000 },
      });
      let lastError = "";
      hub.onStatus((status) => {
        if (status.type === "waiting") lastError = status.lastError;
      });
      hub.start();
      const timer = setTimeout(() => void hub.close(), TUNNEL_CHECK_TIMEOUT_MS);
      try {
        await hub.connected();
        process.stderr.write(`tunnel to ${tunnel} is up with the new certificate\n`);
      } catch {
        throw new Error(
          `certificate stored, but the tunnel to ${tunnel} did not come up within ${TUNNEL_CHECK_TIMEOUT_MS / 1000} s${lastError ? `: ${lastError}` : ""}`,
        );
      } finally {
        clearTimeout(timer);
        await hub.close();
      }
    });
}
