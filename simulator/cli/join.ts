import { Command } from "commander";
import { parseJoinToken, requestNodeCertificate } from "../../edgecore/hub/join.js";
import { CredentialCache } from "../engine/credential-cache.js";
import { createProgress } from "../run/progress.js";
import { intFlag } from "./flags.js";

interface JoinFlags {
  certificateServer: string;
  token: string;
  nodes: number;
  firstIndex: number;
  prefix: string;
  certCache: string;
  concurrency: number;
}

/**
 * `edgefleet-sim join`: joins N node names ahead of a run and keeps their certificates in a SQLite
 * cache, so runs start at tunnel speed instead of join speed.
 */
export function joinCommand(): Command {
  return new Command("join")
    .description("pre-join nodes and cache their certificates for later runs")
    .requiredOption("--certificate-server <host:port>", "cloudcore's certificate server (10002)")
    .requiredOption("--token <token>", "join token")
    .option("--nodes <n>", "nodes to join", intFlag("--nodes"), 1000)
    .option("--first-index <n>", "index of the first node", intFlag("--first-index", 0), 0)
    .option("--prefix <name>", "node name prefix", "sim")
    .requiredOption("--cert-cache <file>", "SQLite file (created if missing)")
    .option("--concurrency <n>", "joins in flight", intFlag("--concurrency"), 32)
    .action(async (flags: JoinFlags) => {
      const { caHash } = parseJoinToken(flags.token);
      const cache = new CredentialCache(flags.certCache);
      const progress = createProgress(process.stderr, 5000);
      let done = 0;
      let cached = 0;
      let failed = 0;
      let next = 0;
      const started = Date.now();
      const show = (): void =>
        progress.update({
          phase: "join",
          nodes: flags.nodes,
          connected: done + cached,
          registered: 0,
          pods: 0,
          podsRunning: 0,
          messagesPerSecond: Math.round(done / Math.max(0.001, (Date.now() - started) / 1000)),
          errors: failed,
        });
      const lane = async (): Promise<void> => {
        for (;;) {
          const i = next++;
          if (i >= flags.nodes) return;
          const name = `${flags.prefix}-${flags.firstIndex + i}`;
          if (cache.get(name, caHash)) {
            cached++;
            continue;
          }
          try {
            cache.put(
              name,
              await requestNodeCertificate({
                server: flags.certificateServer,
                token: flags.token,
                nodeName: name,
              }),
            );
            done++;
          } catch (err) {
            failed++;
            if (failed <= 5) progress.log(`${name}: ${(err as Error).message}`);
          }
          show();
        }
      };
      try {
        await Promise.all(Array.from({ length: flags.concurrency }, lane));
      } finally {
        progress.stop();
        cache.close();
      }
      const seconds = (Date.now() - started) / 1000;
      process.stdout.write(
        `joined ${done}, already cached ${cached}, failed ${failed} in ${seconds.toFixed(1)} s (${(done / Math.max(seconds, 0.001)).toFixed(0)}/s); cache ${flags.certCache}\n`,
      );
      if (failed > 0) process.exitCode = 1;
    });
}
