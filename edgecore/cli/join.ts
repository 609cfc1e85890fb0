import { Command, InvalidArgumentError } from "commander";
import { joinCloud } from "../hub/join.js";

const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function nodeNameFlag(value: string): string {
  if (value.length > 253 || !NODE_NAME.test(value)) {
    throw new InvalidArgumentError(`"${value}" is not a valid node name (lowercase DNS-1123 subdomain)`);
  }
  return value;
}

function hostPortFlag(value: string): string {
  const match = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535) throw new InvalidArgumentError(`"${value}" is not host:port`);
  return value;
}

/** `edgecore join`: obtain this node's certificate from cloudcore with a join token. */
export function joinCommand(): Command {
  return new Command("join")
    .description("join the cloud: obtain and store this node's certificate using a join token")
    .requiredOption(
      "--cloudcore <host:port>",
      "cloudcore's certificate server (KubeEdge's port 10002)",
      hostPortFlag,
    )
    .requiredOption("--token <token>", "join token from `cloudcore token create`")
    .requiredOption("--node-name <name>", "this node's name", nodeNameFlag)
    .option("--cert-dir <dir>", "where ca.crt, node.crt and node.key are stored", "/etc/edgefleet/certs")
    .action(async (flags: { cloudcore: string; token: string; nodeName: string; certDir: string }) => {
      const creds = await joinCloud({
        server: flags.cloudcore,
        token: flags.token,
        nodeName: flags.nodeName,
        certDir: flags.certDir,
      });
      process.stderr.write(
        `joined as ${flags.nodeName}; certificate ${creds.certFile}, key ${creds.keyFile}, CA ${creds.caFile}\n`,
      );
    });
}
