import { Command } from "commander";

interface ChaosFlags {
  target: string;
  disconnect: string;
  down: string;
}

/** `edgefleet-sim chaos`: disturbs a running simulation through its control endpoint. */
export function chaosCommand(): Command {
  return new Command("chaos")
    .description("cut the tunnels of a fraction of a running simulation's nodes (run --metrics-port)")
    .requiredOption("--target <host:port>", "the run's --metrics-port endpoint, e.g. 127.0.0.1:9400")
    .option("--disconnect <fraction>", "fraction (0.1) or percentage (10%) of connected nodes", "10%")
    .option("--down <duration>", "how long their network stays down", "5s")
    .action(async (flags: ChaosFlags) => {
      const text = flags.disconnect.trim();
      const fraction = text.endsWith("%") ? Number(text.slice(0, -1)) / 100 : Number(text);
      if (!(fraction > 0 && fraction <= 1))
        throw new Error(
          `--disconnect must be a fraction in (0, 1] or a percentage, got "${flags.disconnect}"`,
        );
      const res = await fetch(`http://${flags.target}/chaos`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ fraction, down: flags.down }),
      });
      const body = (await res.json()) as { cut?: number; error?: string };
      if (!res.ok) throw new Error(`${flags.target}: ${body.error ?? res.status}`);
      process.stdout.write(`cut ${body.cut ?? 0} tunnels for ${flags.down}\n`);
    });
}
