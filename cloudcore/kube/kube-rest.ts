import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import type { Histogram } from "prom-client";
import { ApiserverError } from "../errors.js";
import type { Watchable } from "../controllers/informer.js";
import type { KubeObject } from "./objects.js";

export type Verb = "get" | "list" | "create" | "update" | "patch" | "delete";

export const PatchType = {
  Json: "application/json-patch+json",
  Merge: "application/merge-patch+json",
  StrategicMerge: "application/strategic-merge-patch+json",
} as const;
export type PatchType = (typeof PatchType)[keyof typeof PatchType];

export interface RequestOptions {
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  /** A patch body that is already serialized (edges send patches as JSON strings). */
  readonly rawBody?: string;
  readonly contentType?: string;
}

/** A Kubernetes `Status` failure as the apiserver returned it, with its HTTP code. */
export class KubeApiError extends ApiserverError {
  override readonly name = "KubeApiError";
  constructor(
    readonly statusCode: number,
    readonly status: KubeStatus,
    what: string,
  ) {
    super(`${what}: ${statusCode} ${status.reason ?? ""} ${status.message ?? ""}`.trim());
  }
}

export interface KubeStatus {
  readonly kind?: string;
  readonly apiVersion?: string;
  readonly status?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
  readonly details?: unknown;
}

export interface ListResult<T> {
  readonly items: T[];
  readonly resourceVersion: string;
}

/** HTTP status of a KubeApiError (or of a client-node ApiException), else undefined. */
export function statusCodeOf(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.statusCode;
  if (typeof err === "object" && err !== null && "code" in err && typeof err.code === "number")
    return err.code;
  return undefined;
}

/**
 * A thin JSON client for the apiserver. The generated client-node APIs turn objects into typed
 * models (timestamps become Date, unknown fields vanish); objects that go down to edges must stay
 * exactly what the apiserver sent, so controllers use plain JSON through this client. Every
 * request is timed by verb and resource (edgefleet_apiserver_request_duration_seconds).
 */
export class KubeRest {
  readonly #agent: https.Agent;
  readonly #server: URL;

  private constructor(
    private readonly kubeConfig: KubeConfig,
    agentOptions: https.AgentOptions,
    private readonly latency: Histogram<"verb" | "resource" | "code"> | undefined,
  ) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new ApiserverError("kubeconfig has no current cluster");
    this.#server = new URL(cluster.server);
    this.#agent = new https.Agent({ ...agentOptions, keepAlive: true, maxSockets: 64 });
  }

  static async create(
    kubeConfig: KubeConfig,
    latency?: Histogram<"verb" | "resource" | "code">,
  ): Promise<KubeRest> {
    const opts: https.RequestOptions = {};
    await kubeConfig.applyToHTTPSOptions(opts);
    const agentOptions: https.AgentOptions = {};
    if (opts.ca) agentOptions.ca = opts.ca;
    if (opts.cert) agentOptions.cert = opts.cert;
    if (opts.key) agentOptions.key = opts.key;
    if (opts.rejectUnauthorized !== undefined) agentOptions.rejectUnauthorized = opts.rejectUnauthorized;
    if (opts.servername) agentOptions.servername = opts.servername;
    return new KubeRest(kubeConfig, agentOptions, latency);
  }

  get<T extends KubeObject = KubeObject>(path: string, query?: RequestOptions["query"]): Promise<T> {
    return this.request<T>("get", path, query ? { query } : {});
  }

  /** Lists a collection in pages of `limit`, returning every item and the list's resourceVersion. */
  async list<T extends Watchable>(
    path: string,
    query: Readonly<Record<string, string>> = {},
    limit = 500,
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let continueToken: string | undefined;
    let resourceVersion = "";
    do {
      const page = (await this.request("list", path, {
        query: { ...query, limit: String(limit), continue: continueToken },
      })) as { items?: T[]; metadata?: { resourceVersion?: string; continue?: string } };
      for (const item of page.items ?? []) items.push(item);
      resourceVersion = page.metadata?.resourceVersion ?? resourceVersion;
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return { items, resourceVersion };
  }

  /** One request; resolves to the decoded JSON body, rejects with KubeApiError on a non-2xx status. */
  async request<T = KubeObject>(verb: Verb, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(path, this.#server);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const auth: https.RequestOptions = {};
    // Refreshed per request: a bearer token (in-cluster service account) rotates.
    await this.kubeConfig.applyToHTTPSOptions(auth);
    const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    const method = {
      get: "GET",
      list: "GET",
      create: "POST",
      update: "PUT",
      patch: "PATCH",
      delete: "DELETE",
    }[verb];
    const headers: Record<string, string> = { accept: "application/json" };
    for (const [key, value] of Object.entries(auth.headers ?? {})) {
      if (typeof value === "string") headers[key] = value;
    }
    if (body !== undefined) {
      headers["content-type"] =
        options.contentType ?? (verb === "patch" ? PatchType.StrategicMerge : "application/json");
      headers["content-length"] = String(Buffer.byteLength(body));
    }
    const started = process.hrtime.bigint();
    const resource = resourceOf(url.pathname);
    let code = "error";
    try {
      const send = (): Promise<{ statusCode: number; text: string }> =>
        new Promise((resolve, reject) => {
          const req = https.request(url, { method, headers, agent: this.#agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (chunk: Buffer) => chunks.push(chunk));
            res.on("end", () =>
              resolve({ statusCode: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
            );
            res.on("error", reject);
          });
          req.on("error", (err: NodeJS.ErrnoException) =>
            reject(req.reusedSocket && err.code === "ECONNRESET" ? new StaleSocketError(err) : err),
          );
          req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
          req.end(body);
        });
      const { statusCode, text } = await send().catch((err: unknown) => {
        // A kept-alive socket the apiserver closed while idle: the request was sent into a closing
        // connection, never read. Sent again on a fresh socket — unless it could apply twice
        // (a create, or a JSON patch whose operations are not idempotent).
        if (err instanceof StaleSocketError && retriesOnStaleSocket(verb, headers["content-type"]))
          return send();
        throw err instanceof StaleSocketError ? err.cause : err;
      });
      code = String(statusCode);
      let parsed: unknown;
      try {
        parsed = text === "" ? {} : JSON.parse(text);
      } catch {
        throw new ApiserverError(
          `${method} ${url.pathname}: ${statusCode}, body is not JSON: ${text.slice(0, 200)}`,
        );
      }
      if (statusCode < 200 || statusCode >= 300) {
        throw new KubeApiError(statusCode, parsed as KubeStatus, `${method} ${url.pathname}`);
      }
      return parsed as T;
    } catch (err) {
      if (err instanceof KubeApiError) throw err;
      throw new ApiserverError(`${method} ${url.pathname}: ${(err as Error).message}`, { cause: err });
    } finally {
      this.latency?.observe({ verb, resource, code }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** ECONNRESET on a socket the agent reused: the keep-alive race, not a failed apiserver. */
class StaleSocketError extends Error {
  constructor(override readonly cause: Error) {
    super(cause.message);
  }
}

/** Whether a request that met a stale keep-alive socket may be sent again. */
export function retriesOnStaleSocket(verb: Verb, contentType: string | undefined): boolean {
  if (verb === "create") return false;
  return !(verb === "patch" && contentType === PatchType.Json);
}

/**
 * The resource of an API path, for metric labels: `/api/v1/namespaces/x/pods/y/status` → `pods`,
 * `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n` → `leases`.
 */
export function resourceOf(pathname: string): string {
  const parts = pathname.split("/").filter(Boolean);
  // Skip the prefix: api/v1 or apis/<group>/<version>.
  let i = parts[0] === "apis" ? 3 : 2;
  if (parts[i] === "namespaces" && parts.length > i + 2) i += 2;
  return parts[i] ?? "unknown";
}
