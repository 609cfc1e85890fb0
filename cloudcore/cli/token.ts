import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { Command, InvalidArgumentError } from "commander";
import { parseDurationSeconds } from "../../protocol/duration.js";
import { DEFAULT_CLOUD_NAMESPACE, loadOrCreateCa } from "../security/ca-store.js";
import { JoinTokens } from "../security/join-tokens.js";

interface CommonFlags {
  readonly kubeconfig?: string;
  readonly namespace: string;
}

function kubeClient(flags: CommonFlags): CoreV1Api {
  const kc = new KubeConfig();
  if (flags.kubeconfig) kc.loadFromFile(flags.kubeconfig);
  else kc.loadFromDefault();
  return kc.makeApiClient(CoreV1Api);
}

async function joinTokens(flags: CommonFlags): Promise<JoinTokens> {
  const core = kubeClient(flags);
  return new JoinTokens(core, await loadOrCreateCa(core, flags.namespace), { namespace: flags.namespace });
}

function ttlFlag(value: string): number {
  try {
    return parseDurationSeconds(value);
  } catch (err) {
    throw new InvalidArgumentError((err as Error).message);
  }
}

/** `cloudcore token create|list|revoke`: join tokens, stored in the apiserver. */
export function tokenCommand(): Command {
  const token = new Command("token").description(
    "manage edge join tokens (stored as Secrets in the apiserver)",
  );
  const common = (cmd: Command): Command =>
    cmd
      .option("--kubeconfig <path>", "kubeconfig (default: $KUBECONFIG, ~/.kube/config or in-cluster)")
      .option("--namespace <ns>", "namespace of cloudcore's Secrets", DEFAULT_CLOUD_NAMESPACE);

  common(token.command("create"))
    .description("create a join token and print it")
    .option("--ttl <duration>", "lifetime, e.g. 24h, 30m, 7d", ttlFlag, 86400)
    .option("--description <text>", "what the token is for", "")
    .action(async (flags: CommonFlags & { ttl: number; description: string }) => {
      const created = await (
        await joinTokens(flags)
      ).create({ ttlSeconds: flags.ttl, description: flags.description });
      process.stderr.write(`token ${created.id} expires at ${created.expiresAt.toISOString()}\n`);
      process.stdout.write(created.token + "\n");
    });

  common(token.command("list"))
    .description("list join tokens")
    .action(async (flags: CommonFlags) => {
      for (const t of await (await joinTokens(flags)).list()) {
        process.stdout.write(`${t.id}\t${t.expiresAt.toISOString()}\t${t.description}\n`);
      }
    });

  common(token.command("revoke"))
    .description("revoke a join token by id")
    .argument("<id>", "token id, as printed by create and list")
    .action(async (id: string, flags: CommonFlags) => {
      await (await joinTokens(flags)).revoke(id);
      process.stderr.write(`token ${id} revoked\n`);
    });
  return token;
}
