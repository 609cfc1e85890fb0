import { execFile } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, connect, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { CertificateAuthority } from "../../protocol/pki.js";
import type { ControlPlanePki } from "./control-plane-pki.js";
import { startKubeApiserver, type KubeApiserver } from "./kube-apiserver.js";
import { writeKubeconfig } from "./kubeconfig.js";

const run = promisify(execFile);

/**
 * A second kube-apiserver of a local cluster (same etcd, same PKI), running in a network namespace
 * of its own: its connections to "kubelets" leave through that namespace's NAT table, where the
 * iptables manager writes its DNAT rules, as on a real control-plane host. Used by the DNAT tests
 * and by a local edgefleet started with `streams` (needs root: netns, veth). A veth pair joins it
 * to the host: `hostAddress` (the host side, where the replicas' stream servers listen) and
 * `address` (the apiserver's). Every other destination is routed to the host side, so node
 * addresses need no route of their own.
 */
export class NetnsApiserver {
  private constructor(
    readonly netns: string,
    readonly hostAddress: string,
    readonly address: string,
    readonly kubeconfig: string,
    private readonly apiserver: KubeApiserver,
    private readonly etcdForwarder: Server,
    private readonly veth: string,
    private readonly forwarded: Set<Socket>,
  ) {}

  static async start(options: {
    readonly dir: string;
    readonly pki: ControlPlanePki;
    readonly etcdUrl: string;
    /**
     * Called once the namespace and its veth are up, before the apiserver starts (which takes a
     * few seconds): what listens on `hostAddress` can start meanwhile.
     */
    readonly onNetwork?: (network: { readonly netns: string; readonly hostAddress: string }) => void;
  }): Promise<NetnsApiserver> {
    const id = randomBytes(3).toString("hex");
    const netns = `efapi-${id}`;
    const [hostVeth, nsVeth] = [`efh${id}`, `efn${id}`];
    const subnet = `10.204.${randomInt(1, 250)}`;
    const [hostAddress, address] = [`${subnet}.1`, `${subnet}.2`];
    const ip = async (...args: string[]): Promise<void> => {
      await run("ip", args);
    };
    // etcd listens on the host's loopback: a forwarder on the host side of the veth reaches it.
    const etcd = new URL(options.etcdUrl);
    const sockets = new Set<Socket>();
    const etcdForwarder = createServer((inbound) => {
      const outbound = connect({ host: etcd.hostname, port: Number(etcd.port) });
      sockets.add(inbound).add(outbound);
      inbound.pipe(outbound).pipe(inbound);
      const done = (): void => {
        inbound.destroy();
        outbound.destroy();
        sockets.delete(inbound);
        sockets.delete(outbound);
      };
      inbound.on("error", done).on("close", done);
      outbound.on("error", done).on("close", done);
    });
    await ip("netns", "add", netns);
    const undo = async (): Promise<void> => {
      // A forwarder left listening would keep the caller's process alive.
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => etcdForwarder.close(() => resolve()));
      await ip("link", "del", hostVeth).catch(() => undefined);
      await ip("netns", "del", netns).catch(() => undefined);
    };
    try {
      await ip("link", "add", hostVeth, "type", "veth", "peer", "name", nsVeth);
      await ip("link", "set", nsVeth, "netns", netns);
      await ip("addr", "add", `${hostAddress}/24`, "dev", hostVeth);
      await ip("link", "set", hostVeth, "up");
      await ip("-n", netns, "addr", "add", `${address}/24`, "dev", nsVeth);
      await ip("-n", netns, "link", "set", "lo", "up");
      await ip("-n", netns, "link", "set", nsVeth, "up");
      await ip("-n", netns, "route", "add", "default", "via", hostAddress);
      // The default route only exists so that a dial to a node address reaches the NAT table's
      // OUTPUT chain (no route: connect() fails before it). Whatever the DNAT did not send to the
      // host side (a port whose rule is gone after a failover, an address no rule covers) is
      // refused here, at once, instead of leaving the namespace for the host's own default route.
      await run("ip", [
        ...["netns", "exec", netns, "iptables", "-w", "-A", "OUTPUT", "-o", nsVeth],
        ...["!", "-d", `${hostAddress}/32`, "-j", "REJECT", "--reject-with", "icmp-net-unreachable"],
      ]);
      await new Promise<void>((resolve) => etcdForwarder.listen(0, hostAddress, resolve));
      options.onNetwork?.({ netns, hostAddress });
      const etcdPort = (etcdForwarder.address() as { port: number }).port;

      const dir = join(options.dir, `apiserver-${id}`);
      mkdirSync(dir, { recursive: true });
      const ca = await CertificateAuthority.fromPem(
        readFileSync(options.pki.caCert, "utf8"),
        readFileSync(options.pki.caKey, "utf8"),
      );
      const serving = await ca.issue({
        subject: "CN=kube-apiserver",
        usage: "server",
        ipAddresses: [address],
      });
      writeFileSync(join(dir, "serving.crt"), serving.certPem);
      writeFileSync(join(dir, "serving.key"), serving.keyPem, { mode: 0o600 });
      const apiserver = await startKubeApiserver({
        dir,
        etcdUrl: `http://${hostAddress}:${etcdPort}`,
        pki: options.pki,
        netns: {
          name: netns,
          bindAddress: address,
          cert: join(dir, "serving.crt"),
          key: join(dir, "serving.key"),
        },
        // This apiserver only serves `kubectl logs/exec/port-forward` (a pod read, a node read, the
        // proxied stream); the first one serves everything else. Without a watch cache it keeps no
        // copy of every resource fed from etcd, and with RBAC alone no Node-authorizer graph of
        // every pod: the two cost ~12 % of a core under a 1,000-node fleet and serve nothing here.
        extraArgs: ["--watch-cache=false", "--authorization-mode=RBAC"],
      });
      const kubeconfig = join(dir, "admin.kubeconfig");
      writeKubeconfig(kubeconfig, {
        server: apiserver.url,
        caPem: readFileSync(options.pki.caCert, "utf8"),
        user: "edgefleet-admin",
        certPem: readFileSync(options.pki.adminCert, "utf8"),
        keyPem: readFileSync(options.pki.adminKey, "utf8"),
      });
      return new NetnsApiserver(
        netns,
        hostAddress,
        address,
        kubeconfig,
        apiserver,
        etcdForwarder,
        hostVeth,
        sockets,
      );
    } catch (err) {
      await undo();
      throw err;
    }
  }

  /** The apiserver's log file. */
  get logFile(): string {
    return this.apiserver.logFile;
  }

  /** Runs a command inside the namespace. */
  async exec(command: string, ...args: string[]): Promise<string> {
    return (await run("ip", ["netns", "exec", this.netns, command, ...args])).stdout;
  }

  async stop(): Promise<void> {
    await this.apiserver.stop();
    for (const s of this.forwarded) s.destroy();
    await new Promise<void>((resolve) => this.etcdForwarder.close(() => resolve()));
    await run("ip", ["link", "del", this.veth]).catch(() => undefined);
    await run("ip", ["netns", "del", this.netns]).catch(() => undefined);
  }
}
