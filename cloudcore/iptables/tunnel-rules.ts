/** One replica's DNAT target: the apiserver's connections to `tunnelPort` go to its stream listener. */
export interface TunnelTarget {
  readonly replica: string;
  readonly tunnelPort: number;
  readonly address: string;
  readonly streamPort: number;
}

export const DEFAULT_TUNNEL_CHAIN = "EDGEFLEET-TUNNEL-PORT";

/** KubeEdge's stream port: the DNAT target of a replica that published none. */
const DEFAULT_STREAM_PORT = 10003;

/** The DNAT targets of the live replicas that hold a tunnel port (as their registry records say). */
export function tunnelTargetsOf(
  replicas: readonly {
    readonly id: string;
    readonly address: string;
    readonly tunnelPort?: number | undefined;
    readonly streamPort?: number | undefined;
  }[],
): TunnelTarget[] {
  return replicas.flatMap((r) =>
    r.tunnelPort === undefined
      ? []
      : [
          {
            replica: r.id,
            tunnelPort: r.tunnelPort,
            address: r.address,
            streamPort: r.streamPort ?? DEFAULT_STREAM_PORT,
          },
        ],
  );
}

/**
 * The whole NAT chain as `iptables-restore --noflush` input: declaring the chain flushes it, so the
 * rules are replaced in one atomic step, and running it twice changes nothing. One DNAT rule per
 * replica, no destination match (the apiserver dials `<node InternalIP>:<tunnel port>`), as
 * KubeEdge's iptables manager does; sorted, so the same replica set always renders the same text.
 */
export function renderTunnelRules(chain: string, targets: readonly TunnelTarget[]): string {
  if (!/^[A-Za-z0-9_-]{1,28}$/.test(chain)) throw new RangeError(`bad chain name ${JSON.stringify(chain)}`);
  const lines = ["*nat", `:${chain} - [0:0]`];
  const seen = new Set<number>();
  for (const t of [...targets].sort((a, b) => a.tunnelPort - b.tunnelPort)) {
    if (seen.has(t.tunnelPort)) continue; // two claims on one port: the allocator never allows it
    seen.add(t.tunnelPort);
    if (!/^[0-9.]+$/.test(t.address) && !/^[0-9a-fA-F:]+$/.test(t.address))
      throw new RangeError(`replica ${t.replica}: address ${JSON.stringify(t.address)} is not an IP`);
    const to = t.address.includes(":") ? `[${t.address}]:${t.streamPort}` : `${t.address}:${t.streamPort}`;
    lines.push(
      `-A ${chain} -p tcp --dport ${t.tunnelPort} -m comment --comment "edgefleet replica ${t.replica.replace(/[^A-Za-z0-9_.-]/g, "")}" -j DNAT --to-destination ${to}`,
    );
  }
  lines.push("COMMIT", "");
  return lines.join("\n");
}
