import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * Two network namespaces joined by a veth pair, made and removed by the test: `client` (where the
 * apiserver's connections start and the NAT rules live) and `servers` (where stand-ins for the
 * replicas' stream listeners run). Nothing leaves them.
 */
export class NetnsPair {
  readonly client: string;
  readonly servers: string;
  readonly #children: ChildProcess[] = [];

  private constructor(readonly id: string) {
    this.client = `efc-${id}`;
    this.servers = `efs-${id}`;
  }

  /** `clientAddress` goes on the client side; `serverAddresses` on the server side (a /24 each). */
  static async create(clientAddress: string, serverAddresses: readonly string[]): Promise<NetnsPair> {
    const pair = new NetnsPair(randomBytes(3).toString("hex"));
    const [vc, vs] = [`efc${pair.id}`, `efs${pair.id}`];
    const ip = async (...args: string[]): Promise<void> => {
      await run("ip", args);
    };
    await ip("netns", "add", pair.client);
    await ip("netns", "add", pair.servers);
    await ip("link", "add", vc, "type", "veth", "peer", "name", vs);
    await ip("link", "set", vc, "netns", pair.client);
    await ip("link", "set", vs, "netns", pair.servers);
    await ip("-n", pair.client, "addr", "add", `${clientAddress}/24`, "dev", vc);
    for (const a of serverAddresses) await ip("-n", pair.servers, "addr", "add", `${a}/24`, "dev", vs);
    for (const [ns, dev] of [
      [pair.client, vc],
      [pair.servers, vs],
    ] as const) {
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip("-n", ns, "link", "set", dev, "up");
    }
    // Everything from the client side is routed to the servers side (node addresses included).
    await ip("-n", pair.client, "route", "add", "default", "via", serverAddresses[0] ?? "");
    return pair;
  }

  /** Runs `command` inside `ns`. */
  async exec(ns: string, command: string, ...args: string[]): Promise<string> {
    const { stdout } = await run("ip", ["netns", "exec", ns, command, ...args]);
    return stdout;
  }

  /** Starts a TCP server inside the servers namespace that answers every connection with `reply`. */
  async serve(address: string, port: number, reply: string): Promise<void> {
    const script = `require("net").createServer((s) => s.end(${JSON.stringify(reply + "\n")})).listen(${port}, ${JSON.stringify(address)}, () => console.log("up"));`;
    const child = spawn("ip", ["netns", "exec", this.servers, process.execPath, "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    this.#children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout?.once("data", () => resolve());
      child.once("exit", (code) => reject(new Error(`server exited ${code}`)));
    });
  }

  /** Connects from the client namespace to `address:port`; resolves to the first line received. */
  async connect(address: string, port: number): Promise<string> {
    const script = `const s = require("net").connect(${port}, ${JSON.stringify(address)}); s.setTimeout(3000, () => { console.log("timeout"); process.exit(2); }); s.on("data", (d) => { process.stdout.write(d); s.end(); }); s.on("error", (e) => { console.log("error " + e.code); process.exit(3); });`;
    const out = await run("ip", ["netns", "exec", this.client, process.execPath, "-e", script]).then(
      (r) => r.stdout,
      (e: { stdout?: string }) => e.stdout ?? "failed",
    );
    return out.trim();
  }

  async destroy(): Promise<void> {
    for (const child of this.#children) child.kill("SIGKILL");
    await run("ip", ["netns", "del", this.client]).catch(() => undefined);
    await run("ip", ["netns", "del", this.servers]).catch(() => undefined);
  }
}
