/**
 * `cloudcore iptables-manager` as a process of its own, programming the NAT table of a network
 * namespace (an apiserver's, see NetnsApiserver) while it and its Redis connection stay on the host:
 * the DNAT of each replica's tunnel port to its stream listener, which `kubectl logs/exec/
 * port-forward` to edge pods go through.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_TUNNEL_CHAIN } from "../../cloudcore/iptables/tunnel-rules.js";
import { cloudcoreCommand } from "./cloudcore-replica.js";
import type { Component } from "./component.js";
import { ManagedProcess } from "./managed-process.js";
import { runCommand } from "./run-command.js";

export interface IptablesManagerSpec {
  /** Directory for its log file. */
  readonly dir: string;
  readonly redisUrl: string;
  /** The network namespace whose NAT table it programs. */
  readonly netns: string;
  /** Ready once the chain holds this many DNAT rules (one per live replica), and the jumps to it. */
  readonly replicas: number;
  readonly intervalSeconds?: number;
  readonly readyTimeoutMs?: number;
}

export interface IptablesManagerProcess extends Component {
  readonly netns: string;
  readonly chain: string;
  /** The namespace's NAT table (`iptables-save -t nat`), to see what the manager wrote. */
  natTable(): Promise<string>;
}

/** Counts the chain's DNAT rules and whether OUTPUT (the apiserver's own dials) jumps to it. */
export function tunnelRulesOf(natTable: string, chain: string): { dnat: number; jumped: boolean } {
  const lines = natTable.split("\n");
  return {
    dnat: lines.filter((l) => l.startsWith(`-A ${chain} `) && l.includes(" -j DNAT ")).length,
    jumped: lines.some((l) => l === `-A OUTPUT -j ${chain}`),
  };
}

/**
 * Starts the manager; resolves once the namespace's NAT table sends every replica's tunnel port
 * to it. Stopping leaves the rules: they go with the namespace (`cloudcore iptables-manager
 * --remove` would delete them from a namespace that stays).
 */
export async function startIptablesManager(spec: IptablesManagerSpec): Promise<IptablesManagerProcess> {
  mkdirSync(spec.dir, { recursive: true });
  const chain = DEFAULT_TUNNEL_CHAIN;
  const natTable = async (): Promise<string> =>
    (await runCommand("ip", ["netns", "exec", spec.netns, "iptables-save", "-t", "nat"])).stdout;
  const { command, args } = cloudcoreCommand();
  const proc = new ManagedProcess({
    name: "iptables-manager",
    command,
    args: [
      ...args,
      "iptables-manager",
      ...["--redis-url", spec.redisUrl, "--netns", spec.netns, "--chain", chain],
      ...["--interval", `${spec.intervalSeconds ?? 2}s`],
    ],
    logFile: join(spec.dir, "iptables-manager.log"),
    ready: async () => {
      const rules = tunnelRulesOf(await natTable(), chain);
      return rules.jumped && rules.dnat === spec.replicas;
    },
    readyTimeoutMs: spec.readyTimeoutMs ?? 30_000,
  });
  await proc.start();
  return {
    name: proc.spec.name,
    logFile: proc.spec.logFile,
    netns: spec.netns,
    chain,
    natTable,
    get running() {
      return proc.running;
    },
    stop: () => proc.stop(),
  };
}
