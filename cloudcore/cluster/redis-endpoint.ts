import { readFileSync } from "node:fs";
import type { ConnectionOptions } from "node:tls";
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { z } from "zod";
import { CloudcoreError } from "../errors.js";
import type { RedisClient } from "./redis-client.js";

/**
 * Where cloudcore's Redis is, as one string (`--redis-url`, config key `redisUrl`):
 *
 * - `redis://[user:password@]host[:port][/db]`, `rediss://…` (TLS): one Redis server;
 * - `redis+sentinel://[user:password@]host[:port][,host[:port]…]/<masterName>[/db][?sentinelPassword=…&sentinelUsername=…]`
 *   (`rediss+sentinel://` for TLS to the sentinels and the master): the master a Sentinel group
 *   names, followed through failovers. `user:password` authenticate to the master (and its
 *   replicas); the query parameters to the sentinels, if they have a password of their own;
 * - `redis+cluster://[user:password@]host[:port][,host[:port]…]` (`rediss+cluster://`): Redis
 *   Cluster; the hosts are seeds, the rest of the cluster is discovered.
 *
 * Ports default to 6379 (26379 for sentinels). Reserved characters (`@ : / ? # % ,`) in a user
 * name, password or master name are percent-encoded (a literal "@" or "/" in a password is tolerated). A CA bundle for TLS is given separately
 * (`--redis-tls-ca-file`), so that no file path has to be encoded into the URL. Passwords may
 * also come from files (`--redis-password-file`, `--redis-sentinel-password-file`: a mounted
 * Secret), so that they are in no argument list and no values file.
 */

/** A `redisUrl` (or the CA file that goes with it) that cannot be used; the message names the problem. */
export class RedisEndpointError extends CloudcoreError {
  override readonly name = "RedisEndpointError";
  override readonly code = "EF_ERR_REDIS_ENDPOINT";
  constructor(
    /** What is wrong, without the URL (config validation prefixes the field itself). */
    readonly problem: string,
    /** The URL with its passwords replaced by `***`. */
    readonly redactedUrl: string,
  ) {
    super(`redisUrl: ${problem} (in ${redactedUrl})`);
  }
}

export type RedisMode = "single" | "sentinel" | "cluster";

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

interface Auth {
  readonly username?: string | undefined;
  readonly password?: string | undefined;
}

/** A parsed, validated endpoint (no secrets are ever printed from it: see `redacted()`). */
export type RedisEndpointSpec =
  | (Auth & {
      readonly mode: "single";
      readonly tls: boolean;
      readonly server: HostPort;
      readonly db: number;
    })
  | (Auth & {
      readonly mode: "sentinel";
      readonly tls: boolean;
      readonly sentinels: readonly HostPort[];
      readonly masterName: string;
      readonly db: number;
      readonly sentinelUsername?: string | undefined;
      readonly sentinelPassword?: string | undefined;
    })
  | (Auth & { readonly mode: "cluster"; readonly tls: boolean; readonly nodes: readonly HostPort[] });

/** Options of the clients made, common to the three modes. */
export interface RedisClientOptions {
  /** Connect only on `connect()` (default false). */
  readonly lazyConnect?: boolean;
  /** Reconnection attempts a command waits through before it fails (ioredis default 20; null = forever). */
  readonly maxRetriesPerRequest?: number | null;
}

const SCHEMES: Readonly<Record<string, { mode: RedisMode; tls: boolean }>> = {
  redis: { mode: "single", tls: false },
  rediss: { mode: "single", tls: true },
  "redis+sentinel": { mode: "sentinel", tls: false },
  "rediss+sentinel": { mode: "sentinel", tls: true },
  "redis+cluster": { mode: "cluster", tls: false },
  "rediss+cluster": { mode: "cluster", tls: true },
};
const SCHEME_LIST = Object.keys(SCHEMES)
  .map((s) => `${s}://`)
  .join(", ");

const QUERY_PARAMETERS: Readonly<Record<RedisMode, readonly string[]>> = {
  single: [],
  sentinel: ["sentinelUsername", "sentinelPassword"],
  cluster: [],
};

/** Host names, IPv4 addresses, and IPv6 addresses in brackets. */
const hostSchema = z
  .string()
  .min(1, "host is empty")
  .regex(
    /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?\])$/,
    "is not a host name or IP address",
  )
  .transform((h) => (h.startsWith("[") ? h.slice(1, -1) : h));
const portSchema = z
  .string()
  .regex(/^\d{1,5}$/, "is not a port number")
  .transform(Number)
  .pipe(
    z.number().int().min(1, "is not a port number (1-65535)").max(65535, "is not a port number (1-65535)"),
  );
const dbSchema = z
  .string()
  .regex(/^\d{1,5}$/, "database must be a number, e.g. /0")
  .transform(Number);

const RawSchema = z.object({
  hosts: z
    .array(z.object({ host: hostSchema, port: portSchema }))
    .min(1, "no host given")
    .refine(
      (hosts) => new Set(hosts.map((h) => `${h.host}:${h.port}`)).size === hosts.length,
      "a host:port is given twice",
    ),
  username: z.string().min(1, "user name is empty").optional(),
  password: z.string().min(1, "password is empty").optional(),
  db: dbSchema.optional(),
  masterName: z
    .string()
    .min(1, "master name is empty")
    .regex(/^[^\s]+$/, "master name contains white space")
    .optional(),
  sentinelUsername: z.string().min(1, "is empty").optional(),
  sentinelPassword: z.string().min(1, "is empty").optional(),
});

function fail(problem: string, url: string): never {
  throw new RedisEndpointError(problem, redactUrlText(url));
}

function decode(text: string, what: string, url: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return fail(`${what} is not valid percent-encoding (encode reserved characters, e.g. %40 for @)`, url);
  }
}

/** Splits `scheme://authority/path?query`; never looks inside the user info for structure. */
function split(url: string): {
  scheme: string;
  userinfo: string | undefined;
  hostlist: string;
  path: string;
  query: string;
} {
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/(.*)$/s.exec(url);
  if (!match) return fail(`must be a URL starting with one of ${SCHEME_LIST}`, url);
  const scheme = (match[1] ?? "").toLowerCase();
  let rest = match[2] ?? "";
  if (rest.includes("#")) fail("must not contain '#' (percent-encode it as %23 in a password)", url);
  let query = "";
  const q = rest.indexOf("?");
  if (q >= 0) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  // The user info ends at the last "@" and the host list at the first "/" after it, so a literal
  // "@" or "/" in a password is tolerated ("?" and "#" are not: they end the part before them).
  const at = rest.lastIndexOf("@");
  const slash = rest.indexOf("/", at + 1);
  const authority = slash >= 0 ? rest.slice(0, slash) : rest;
  const path = slash >= 0 ? rest.slice(slash) : "";
  const atInAuthority = authority.lastIndexOf("@");
  return {
    scheme,
    userinfo: atInAuthority >= 0 ? authority.slice(0, atInAuthority) : undefined,
    hostlist: atInAuthority >= 0 ? authority.slice(atInAuthority + 1) : authority,
    path,
    query,
  };
}

function splitHostPort(entry: string, defaultPort: number): { host: string; port: string } {
  const bracketed = /^(\[[^\]]*\])(?::(.*))?$/.exec(entry);
  if (bracketed) return { host: bracketed[1] ?? "", port: bracketed[2] ?? String(defaultPort) };
  const colon = entry.lastIndexOf(":");
  if (colon < 0) return { host: entry, port: String(defaultPort) };
  return { host: entry.slice(0, colon), port: entry.slice(colon + 1) };
}

function describeIssue(issue: z.ZodIssue, entries: readonly string[]): string {
  const [first, index, field] = issue.path;
  if (first === "hosts" && typeof index === "number")
    return `host ${index + 1} ("${entries[index] ?? ""}"): ${field === "port" ? "port" : "host"} ${issue.message}`;
  if (first === "sentinelUsername" || first === "sentinelPassword") return `${first} ${issue.message}`;
  return issue.message;
}

/** Parses and validates an endpoint string; throws RedisEndpointError naming what is wrong. */
export function parseRedisEndpoint(url: string): RedisEndpointSpec {
  if (url.trim() === "") fail("is empty", "");
  const parts = split(url.trim());
  const scheme = SCHEMES[parts.scheme];
  if (!scheme) fail(`scheme "${parts.scheme}://" is not one of ${SCHEME_LIST}`, url);
  const { mode, tls } = scheme;

  let username: string | undefined;
  let password: string | undefined;
  if (parts.userinfo !== undefined) {
    const colon = parts.userinfo.indexOf(":");
    const user = colon >= 0 ? parts.userinfo.slice(0, colon) : parts.userinfo;
    const pass = colon >= 0 ? parts.userinfo.slice(colon + 1) : undefined;
    // Not echoed: "redis://secret@host" is a password written where the user name goes.
    if (pass === undefined)
      fail("user info without ':' (write redis://user:password@host, or redis://:password@host)", url);
    username = user === "" ? undefined : decode(user, "user name", url);
    password = decode(pass, "password", url);
  }

  const defaultPort = mode === "sentinel" ? 26379 : 6379;
  const entries = parts.hostlist.split(",");
  if (parts.hostlist === "") fail("no host given", url);
  if (entries.some((e) => e === "")) fail("empty host in the host list (a stray comma)", url);
  if (mode === "single" && entries.length > 1)
    fail(
      `${parts.scheme}:// takes one host; for several use redis+sentinel://…/<masterName> or redis+cluster://`,
      url,
    );

  const segments = parts.path === "" || parts.path === "/" ? [] : parts.path.slice(1).split("/");
  let db: string | undefined;
  let masterName: string | undefined;
  if (mode === "single") {
    if (segments.length > 1) fail(`path "${parts.path}" is not /<db>`, url);
    db = segments[0];
  } else if (mode === "sentinel") {
    if (segments.length === 0 || segments[0] === "")
      fail("master name is missing (redis+sentinel://host:port[,host:port…]/<masterName>[/db])", url);
    if (segments.length > 2) fail(`path "${parts.path}" is not /<masterName>[/<db>]`, url);
    masterName = decode(segments[0] ?? "", "master name", url);
    db = segments[1];
  } else if (segments.length > 0) {
    fail("Redis Cluster has only database 0: remove the path from the URL", url);
  }

  const query = new URLSearchParams(parts.query);
  const seen = new Set<string>();
  const params: Record<string, string> = {};
  for (const [key, value] of query) {
    if (!QUERY_PARAMETERS[mode].includes(key))
      fail(
        QUERY_PARAMETERS[mode].length === 0
          ? `unknown query parameter "${key}" (${parts.scheme}:// takes none)`
          : `unknown query parameter "${key}" (allowed: ${QUERY_PARAMETERS[mode].join(", ")})`,
        url,
      );
    if (seen.has(key)) fail(`query parameter "${key}" is given twice`, url);
    seen.add(key);
    params[key] = value;
  }

  const raw = RawSchema.safeParse({
    hosts: entries.map((e) => splitHostPort(e, defaultPort)),
    username,
    password,
    db,
    masterName,
    sentinelUsername: params["sentinelUsername"],
    sentinelPassword: params["sentinelPassword"],
  });
  if (!raw.success)
    return fail(raw.error.issues.map((issue) => describeIssue(issue, entries)).join("; "), url);
  const v = raw.data;
  const auth = {
    ...(v.username !== undefined && { username: v.username }),
    ...(v.password !== undefined && { password: v.password }),
  };
  if (mode === "single") return { mode, tls, server: v.hosts[0] as HostPort, db: v.db ?? 0, ...auth };
  if (mode === "sentinel")
    return {
      mode,
      tls,
      sentinels: v.hosts,
      masterName: v.masterName ?? "",
      db: v.db ?? 0,
      ...auth,
      ...(v.sentinelUsername !== undefined && { sentinelUsername: v.sentinelUsername }),
      ...(v.sentinelPassword !== undefined && { sentinelPassword: v.sentinelPassword }),
    };
  return { mode, tls, nodes: v.hosts, ...auth };
}

/**
 * Best-effort redaction of a URL that may not parse, for error messages: everything between the
 * user name and the last "@" becomes `***` (so a password holding "@", "/" or "?" is hidden whole),
 * and so does a sentinelPassword parameter.
 */
export function redactUrlText(url: string): string {
  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(url)?.[0] ?? "";
  let rest = url.slice(scheme.length);
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const userinfo = rest.slice(0, at);
    const colon = userinfo.indexOf(":");
    const user = colon >= 0 ? userinfo.slice(0, colon) : "";
    rest = `${user}:***${rest.slice(at)}`;
  }
  return scheme + rest.replace(/([?&]sentinelPassword=)[^&#]*/g, "$1***");
}

function formatHost({ host, port }: HostPort): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Files that complete a `redisUrl`: each is read once, at `RedisEndpoint.parse`. */
export interface RedisEndpointFiles {
  /** PEM CA bundle the servers' certificates are checked against (TLS schemes only). */
  readonly tlsCaFile?: string | undefined;
  /** The password of the Redis servers (the data nodes), instead of one in the URL. */
  readonly passwordFile?: string | undefined;
  /** The sentinels' own password (sentinel schemes only), instead of `?sentinelPassword=`. */
  readonly sentinelPasswordFile?: string | undefined;
}

/**
 * A secret from a file: one trailing newline is not part of it (`echo pw > file`, and Kubernetes
 * Secrets made with `--from-file`); anything else is, spaces included.
 */
function readSecretFile(file: string, field: string, url: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new RedisEndpointError(
      `${field} ${file} cannot be read: ${(err as Error).message}`,
      redactUrlText(url),
    );
  }
  const secret = text.replace(/\r?\n$/, "");
  if (secret.length === 0) throw new RedisEndpointError(`${field} ${file} is empty`, redactUrlText(url));
  return secret;
}

function withPasswordFiles(
  spec: RedisEndpointSpec,
  files: RedisEndpointFiles,
  url: string,
): RedisEndpointSpec {
  let result = spec;
  if (files.passwordFile !== undefined) {
    // Two sources of one secret: which one wins would be a guess, so neither does.
    if (spec.password !== undefined)
      throw new RedisEndpointError(
        "the URL has a password and redisPasswordFile is given too: keep one of them",
        redactUrlText(url),
      );
    result = { ...result, password: readSecretFile(files.passwordFile, "redisPasswordFile", url) };
  }
  if (files.sentinelPasswordFile !== undefined) {
    if (result.mode !== "sentinel")
      throw new RedisEndpointError(
        "redisSentinelPasswordFile is for a sentinel URL (redis+sentinel://, rediss+sentinel://)",
        redactUrlText(url),
      );
    if (result.sentinelPassword !== undefined)
      throw new RedisEndpointError(
        "the URL has sentinelPassword and redisSentinelPasswordFile is given too: keep one of them",
        redactUrlText(url),
      );
    result = {
      ...result,
      sentinelPassword: readSecretFile(files.sentinelPasswordFile, "redisSentinelPasswordFile", url),
    };
  }
  return result;
}

/**
 * A validated Redis endpoint and the factory of its ioredis clients. Parse errors and an unreadable
 * CA file throw RedisEndpointError at `parse`, before anything connects.
 */
export class RedisEndpoint {
  readonly #tlsOptions: ConnectionOptions | undefined;

  private constructor(
    readonly spec: RedisEndpointSpec,
    ca: string | undefined,
  ) {
    this.#tlsOptions = spec.tls ? { ...(ca !== undefined && { ca }) } : undefined;
  }

  /**
   * `tlsCaFile`: PEM bundle the server certificates are checked against (instead of Node's
   * default roots); only for the TLS schemes.
   */
  static parse(url: string, options: RedisEndpointFiles = {}): RedisEndpoint {
    const spec = withPasswordFiles(parseRedisEndpoint(url), options, url);
    let ca: string | undefined;
    if (options.tlsCaFile !== undefined) {
      if (!spec.tls)
        throw new RedisEndpointError(
          "a TLS CA file is given (redisTlsCaFile) but the URL does not use TLS (rediss://, rediss+sentinel://, rediss+cluster://)",
          redactUrlText(url),
        );
      try {
        ca = readFileSync(options.tlsCaFile, "utf8");
      } catch (err) {
        throw new RedisEndpointError(
          `redisTlsCaFile ${options.tlsCaFile} cannot be read: ${(err as Error).message}`,
          redactUrlText(url),
        );
      }
    }
    return new RedisEndpoint(spec, ca);
  }

  /** Does `url` parse? The problem (without the URL) if not; for config validation. */
  static problemOf(url: string): string | undefined {
    try {
      parseRedisEndpoint(url);
      return undefined;
    } catch (err) {
      if (err instanceof RedisEndpointError) return err.problem;
      throw err;
    }
  }

  get mode(): RedisMode {
    return this.spec.mode;
  }

  /** The endpoint for logs: passwords are `***`. */
  redacted(): string {
    const s = this.spec;
    const scheme = `${s.tls ? "rediss" : "redis"}${s.mode === "single" ? "" : `+${s.mode}`}://`;
    const user =
      s.username !== undefined || s.password !== undefined
        ? `${encodeURIComponent(s.username ?? "")}${s.password !== undefined ? ":***" : ""}@`
        : "";
    if (s.mode === "single") return `${scheme}${user}${formatHost(s.server)}/${s.db}`;
    if (s.mode === "cluster") return `${scheme}${user}${s.nodes.map(formatHost).join(",")}`;
    const query = [
      ...(s.sentinelUsername !== undefined
        ? [`sentinelUsername=${encodeURIComponent(s.sentinelUsername)}`]
        : []),
      ...(s.sentinelPassword !== undefined ? ["sentinelPassword=***"] : []),
    ];
    return `${scheme}${user}${s.sentinels.map(formatHost).join(",")}/${encodeURIComponent(s.masterName)}/${s.db}${
      query.length > 0 ? `?${query.join("&")}` : ""
    }`;
  }

  /** A client for commands. On a Cluster, auto-pipelining is on (see redis-client.ts, runBatch). */
  client(options: RedisClientOptions = {}): RedisClient {
    const s = this.spec;
    const common: RedisOptions = {
      ...(s.username !== undefined && { username: s.username }),
      ...(s.password !== undefined && { password: s.password }),
      ...(options.maxRetriesPerRequest !== undefined && {
        maxRetriesPerRequest: options.maxRetriesPerRequest,
      }),
    };
    const tls = this.#tlsOptions;
    if (s.mode === "single")
      return new Redis({
        ...common,
        host: s.server.host,
        port: s.server.port,
        db: s.db,
        ...(tls && { tls }),
        lazyConnect: options.lazyConnect ?? false,
      });
    if (s.mode === "sentinel")
      return new Redis({
        ...common,
        sentinels: s.sentinels.map(({ host, port }) => ({ host, port })),
        name: s.masterName,
        db: s.db,
        ...(s.sentinelUsername !== undefined && { sentinelUsername: s.sentinelUsername }),
        ...(s.sentinelPassword !== undefined && { sentinelPassword: s.sentinelPassword }),
        ...(tls && { tls, sentinelTLS: tls, enableTLSForSentinelMode: true }),
        // A master that died is noticed by the broken connection, and the sentinels are asked for
        // the new one. A demoted master still reachable answers writes with READONLY: reconnect
        // then. Not `failoverDetector`: in ioredis 5.11 a +switch-master that arrives while the
        // client is already reconnecting (the master died) ends the client for good ("Connection
        // is closed." for every command after); seen in redis-sentinel.integration.test.ts.
        reconnectOnError: (err) => err.message.startsWith("READONLY"),
        lazyConnect: options.lazyConnect ?? false,
      });
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...common, ...(tls && { tls }) },
      // Commands issued together are sent as one pipeline per shard (runBatch relies on it).
      enableAutoPipelining: true,
      lazyConnect: options.lazyConnect ?? false,
    };
    // With TLS the certificates name the hosts: connect by name, not by the address DNS gives.
    if (tls) clusterOptions.dnsLookup = (address, callback) => callback(null, address);
    return new Cluster(
      s.nodes.map(({ host, port }) => ({ host, port })),
      clusterOptions,
    );
  }

  /**
   * A client for SUBSCRIBE only (handover requests), not connected: call `connect()` before
   * subscribing (a subscribe queued before the ready check turns the connection into subscriber
   * mode under that check). On a Cluster it subscribes through one node; PUBLISH on any node
   * reaches every node's subscribers, and ioredis resubscribes elsewhere if that node fails.
   */
  subscriber(): RedisClient {
    return this.client({ lazyConnect: true });
  }
}
