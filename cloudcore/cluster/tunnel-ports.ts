import { CloudcoreError } from "../errors.js";
import type { RedisClient } from "./redis-client.js";

/** KubeEdge's first tunnel port (cloudcore records start at 10351). */
export const DEFAULT_TUNNEL_PORT_BASE = 10351;

const RENEW = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0
`;
const RELEASE = `
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
`;

export class NoTunnelPortError extends CloudcoreError {
  override readonly name = "NoTunnelPortError";
  override readonly code = "EF_ERR_NO_TUNNEL_PORT";
}

/**
 * One tunnel port per replica, unique across the cluster: the port the apiserver dials (a node's
 * kubelet endpoint port) and the iptables manager DNATs to that replica's stream listener. Held in
 * Redis with a TTL renewed with the replica's liveness; released on shutdown; a dead replica's port
 * is free again once its key expires.
 */
export class TunnelPortAllocator {
  #port: number | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly replicaId: string,
    private readonly options: {
      readonly prefix?: string;
      readonly base?: number;
      readonly range?: number;
      readonly ttlMs?: number;
    } = {},
  ) {}

  get port(): number | undefined {
    return this.#port;
  }

  #key(port: number): string {
    return `${this.options.prefix ?? "edgefleet:"}tunnelport:${port}`;
  }

  /** The lowest free port from the base (or the one this replica id already holds). */
  async allocate(): Promise<number> {
    const base = this.options.base ?? DEFAULT_TUNNEL_PORT_BASE;
    const ttl = String(this.options.ttlMs ?? 30_000);
    for (let port = base; port < base + (this.options.range ?? 1000); port++) {
      const key = this.#key(port);
      if (
        (await this.redis.set(key, this.replicaId, "PX", ttl, "NX")) === "OK" ||
        (await this.redis.get(key)) === this.replicaId
      ) {
        await this.redis.pexpire(key, ttl);
        this.#port = port;
        return port;
      }
    }
    throw new NoTunnelPortError(`no free tunnel port in ${base}–${base + (this.options.range ?? 1000) - 1}`);
  }

  /** Keeps the port; if it was lost (Redis restarted, or it expired and was taken), allocates again. */
  async renew(): Promise<number> {
    if (this.#port === undefined) return this.allocate();
    const held = await this.redis.eval(
      RENEW,
      1,
      this.#key(this.#port),
      this.replicaId,
      String(this.options.ttlMs ?? 30_000),
    );
    if (held === 1) return this.#port;
    const restored = await this.redis.set(
      this.#key(this.#port),
      this.replicaId,
      "PX",
      String(this.options.ttlMs ?? 30_000),
      "NX",
    );
    return restored === "OK" ? this.#port : this.allocate();
  }

  async release(): Promise<void> {
    if (this.#port === undefined) return;
    await this.redis.eval(RELEASE, 1, this.#key(this.#port), this.replicaId);
    this.#port = undefined;
  }
}
