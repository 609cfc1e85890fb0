import { spawn } from "node:child_process";
import type { Logger } from "pino";
import { CloudcoreError } from "../errors.js";
import { renderTunnelRules, type TunnelTarget } from "./tunnel-rules.js";

export class IptablesError extends CloudcoreError {
  override readonly name = "IptablesError";
  override readonly code = "EF_ERR_IPTABLES";
}

/** Runs a command with optional stdin; resolves to stdout, rejects with IptablesError on failure. */
export type CommandRunner = (command: string, args: readonly string[], stdin?: string) => Promise<string>;

/** Runs commands directly, or through a prefix such as `ip netns exec <ns>` (tests). */
export function commandRunner(prefix: readonly string[] = []): CommandRunner {
  return (command, args, stdin) =>
    new Promise((resolve, reject) => {
      const [bin, ...rest] = [...prefix, command, ...args];
      const child = spawn(bin ?? command, rest, {
        stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout?.on("data", (d: Buffer) => (out += d.toString("utf8")));
      child.stderr?.on("data", (d: Buffer) => (err += d.toString("utf8")));
      child.on("error", (e) => reject(new IptablesError(`${command}: ${e.message}`)));
      child.on("close", (code) =>
        code === 0
          ? resolve(out)
          : reject(new IptablesError(`${command} ${args.join(" ")}: exit ${code}: ${err.trim()}`)),
      );
      if (child.stdin) {
        // A command that exits without reading (a failed check) must not crash us with EPIPE.
        child.stdin.on("error", () => undefined);
        child.stdin.end(stdin);
      }
    });
}

export interface IptablesManagerOptions {
  readonly chain: string;
  /** The live replicas' DNAT targets. */
  readonly targets: () => Promise<TunnelTarget[]>;
  readonly run?: CommandRunner;
  readonly intervalMs?: number;
  readonly log: Logger;
}

/**
 * Keeps the NAT rules `tunnel port → replica address:stream port` of the live replicas in its own
 * chain, jumped to from OUTPUT and PREROUTING, so the apiserver's `kubectl logs/exec` connections to
 * a node's kubelet port reach the replica that owns the node. Meant to run beside the apiserver
 * (host-network DaemonSet). Each pass rewrites the chain atomically with `iptables-restore
 * --noflush`; rules of dead replicas disappear with them.
 */
export class IptablesManager {
  readonly #run: CommandRunner;
  #timer: NodeJS.Timeout | undefined;
  #last = "";
  #syncing: Promise<void> = Promise.resolve();

  constructor(private readonly options: IptablesManagerOptions) {
    this.#run = options.run ?? commandRunner();
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      this.#syncing = this.#syncing.then(() =>
        this.sync().then(
          () => undefined,
          () => undefined,
        ),
      );
    }, this.options.intervalMs ?? 10_000);
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#syncing;
  }

  /** One pass; resolves to true if the rules changed. */
  async sync(): Promise<boolean> {
    try {
      const rules = renderTunnelRules(this.options.chain, await this.options.targets());
      await this.#ensureJumps();
      if (rules === this.#last) return false;
      await this.#run("iptables-restore", ["--noflush"], rules);
      this.#last = rules;
      this.options.log.info(
        { chain: this.options.chain, rules: rules.split("\n").filter((l) => l.startsWith("-A")).length },
        "tunnel DNAT rules applied",
      );
      return true;
    } catch (err) {
      this.options.log.warn(
        { err: (err as Error).message },
        "programming tunnel DNAT rules failed; retrying next pass",
      );
      throw err;
    }
  }

  /** Removes the chain and its jumps (uninstall). */
  async remove(): Promise<void> {
    const { chain } = this.options;
    for (const hook of ["OUTPUT", "PREROUTING"])
      await this.#run("iptables", ["-t", "nat", "-D", hook, "-j", chain]).catch(() => undefined);
    await this.#run("iptables", ["-t", "nat", "-F", chain]).catch(() => undefined);
    await this.#run("iptables", ["-t", "nat", "-X", chain]).catch(() => undefined);
    this.#last = "";
  }

  async #ensureJumps(): Promise<void> {
    const { chain } = this.options;
    // The chain must exist before a jump to it can be added.
    await this.#run("iptables", ["-t", "nat", "-N", chain]).catch(() => undefined);
    for (const hook of ["OUTPUT", "PREROUTING"]) {
      const exists = await this.#run("iptables", ["-t", "nat", "-C", hook, "-j", chain]).then(
        () => true,
        () => false,
      );
      if (!exists) await this.#run("iptables", ["-t", "nat", "-I", hook, "-j", chain]);
    }
  }
}
