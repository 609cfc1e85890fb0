import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { EDGEFLEET_VERSION } from "../../protocol/version.js";
import { API_RESOURCES, apiVersionOf, resourceByPath, type ApiResource } from "./api-resources.js";
import type { MetaManager } from "./meta-manager.js";
import type { ObjectJson, StoredObject, StoreEvent } from "./meta-store.js";
import { fieldMatcher, labelMatcher, SelectorError, type Matcher } from "./selectors.js";
import { WatchHistory } from "./watch-history.js";

export interface MetaServerOptions {
  readonly meta: MetaManager;
  /** Loopback only: edge applications on this node, never the network. */
  readonly host?: string;
  /** 0 picks a free port. KubeEdge's metaServer listens on 10550. */
  readonly port?: number;
  readonly registry?: Registry;
  /** Longest a watch stays open without timeoutSeconds (the apiserver's default is 30–60 min). */
  readonly maxWatchSeconds?: number;
  readonly log: Logger;
  /** Readiness: false until the node's modules are up. */
  readonly ready?: () => boolean;
}

const CLUSTER_SCOPED = "null";

interface Route {
  readonly resource: ApiResource;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
}

/** Thrown inside a handler to answer with a Kubernetes Status. */
class StatusError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** A metav1.Status, as the apiserver answers errors. */
function status(code: number, reason: string, message: string): Record<string, unknown> {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code };
}

/**
 * MetaServer: the objects this node holds, served on loopback with the Kubernetes API's list, get
 * and watch, so edge applications (and `kubectl --server`) see them whether the cloud is reachable
 * or not. resourceVersions are the edge store's revisions (one sequence across all kinds), so a
 * client's watch resumes exactly where its list left off. Read-only: the cloud is the only writer.
 */
export class MetaServer {
  readonly #server: Server;
  readonly #history: WatchHistory;
  readonly #watches = new Set<ServerResponse>();
  readonly #watchers = new Set<(event: StoreEvent) => void>();
  readonly #unsubscribe: () => void;
  readonly #log: Logger;
  #port = 0;

  constructor(private readonly options: MetaServerOptions) {
    this.#log = options.log.child({ component: "metaserver" });
    this.#history = new WatchHistory(options.meta.store.revision);
    this.#unsubscribe = options.meta.subscribe((event) => {
      this.#history.record(event);
      for (const watcher of this.#watchers) watcher(event);
    });
    this.#server = createServer((req, res) => {
      this.#serve(req, res).catch((err: unknown) => {
        this.#log.error({ err: (err as Error).message, url: req.url }, "metaserver request failed");
        if (!res.headersSent) this.#json(res, 500, status(500, "InternalError", (err as Error).message));
        else res.destroy();
      });
    });
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `http://${this.options.host ?? "127.0.0.1"}:${this.#port}`;
  }

  async start(): Promise<void> {
    const host = this.options.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(this.options.port ?? 10550, host, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#log.info({ url: this.url }, "metaserver listening");
  }

  async stop(): Promise<void> {
    this.#unsubscribe();
    for (const res of this.#watches) res.end();
    this.#watches.clear();
    this.#watchers.clear();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://metaserver");
    const path = url.pathname.replace(/\/+$/, "") || "/";
    if (req.method !== "GET" && req.method !== "HEAD")
      return this.#json(
        res,
        405,
        status(405, "MethodNotAllowed", `the node's MetaServer is read-only (${req.method})`),
      );
    switch (path) {
      case "/healthz":
      case "/livez":
        return this.#text(res, 200, "ok");
      case "/readyz":
        return (this.options.ready?.() ?? true)
          ? this.#text(res, 200, "ok")
          : this.#text(res, 503, "not ready");
      case "/metrics":
        if (!this.options.registry) break;
        res.writeHead(200, { "content-type": this.options.registry.contentType });
        res.end(await this.options.registry.metrics());
        return;
      case "/version":
        return this.#json(res, 200, {
          major: "1",
          minor: "36",
          gitVersion: `v1.36.0-edgefleet-${EDGEFLEET_VERSION}`,
          platform: `${process.platform}/${process.arch}`,
        });
      case "/api":
        return this.#json(res, 200, {
          kind: "APIVersions",
          versions: ["v1"],
          serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: `127.0.0.1:${this.#port}` }],
        });
      case "/apis":
        return this.#json(res, 200, this.#groupList());
    }
    const discovery = this.#discovery(path);
    if (discovery) return this.#json(res, 200, discovery);
    const route = this.#route(path);
    if (!route)
      return this.#json(
        res,
        404,
        status(404, "NotFound", `the server could not find the requested resource (${path})`),
      );
    try {
      if (route.name !== undefined) return this.#get(res, route);
      const watch = url.searchParams.get("watch");
      const matches = this.#matcher(route, url.searchParams);
      if (watch === "true" || watch === "1") return this.#watch(req, res, route, matches, url.searchParams);
      return this.#list(res, route, matches);
    } catch (err) {
      if (err instanceof SelectorError) return this.#json(res, 400, status(400, "BadRequest", err.message));
      if (err instanceof StatusError)
        return this.#json(res, err.code, status(err.code, err.reason, err.message));
      throw err;
    }
  }

  /** `/api/v1[/namespaces/{ns}]/{plural}[/{name}]` and `/apis/{group}/{version}/…`. */
  #route(path: string): Route | undefined {
    const parts = path.split("/").slice(1);
    let group: string;
    let rest: string[];
    if (parts[0] === "api") {
      group = "";
      rest = parts.slice(1);
    } else if (parts[0] === "apis" && parts.length >= 3) {
      group = parts[1] ?? "";
      rest = parts.slice(2);
    } else return undefined;
    const [version = "", ...tail] = rest;
    let namespace: string | undefined;
    if (tail[0] === "namespaces" && tail.length >= 3) {
      namespace = tail[1];
      tail.splice(0, 2);
    }
    if (tail.length < 1 || tail.length > 2) return undefined;
    const resource = resourceByPath(group, version, tail[0] ?? "");
    if (!resource) return undefined;
    if (namespace !== undefined && !resource.namespaced) return undefined;
    if (tail.length === 2 && resource.namespaced && namespace === undefined) return undefined;
    return { resource, namespace, name: tail[1] };
  }

  #matcher(route: Route, query: URLSearchParams): Matcher {
    const labels = labelMatcher(query.get("labelSelector") ?? undefined);
    const fields = fieldMatcher(query.get("fieldSelector") ?? undefined, route.resource.fieldSelectors);
    return (object) => labels(object) && fields(object);
  }

  #inScope(route: Route, stored: StoredObject): boolean {
    return (
      stored.type === route.resource.type &&
      (route.namespace === undefined || stored.namespace === route.namespace)
    );
  }

  #get(res: ServerResponse, route: Route): void {
    const namespace = route.resource.namespaced ? (route.namespace ?? "") : CLUSTER_SCOPED;
    const stored = this.options.meta.store.get(`${namespace}/${route.resource.type}/${route.name ?? ""}`);
    if (!stored) {
      const what = `${route.resource.plural}${route.resource.group ? `.${route.resource.group}` : ""}`;
      return this.#json(res, 404, status(404, "NotFound", `${what} "${route.name ?? ""}" not found`));
    }
    this.#json(res, 200, served(route.resource, stored));
  }

  #list(res: ServerResponse, route: Route, matches: Matcher): void {
    const { store } = this.options.meta;
    const revision = store.revision;
    const namespace = route.namespace ?? undefined;
    const items = store
      .list(route.resource.type, namespace)
      .map((s) => served(route.resource, s))
      .filter(matches);
    this.#json(res, 200, {
      apiVersion: apiVersionOf(route.resource),
      kind: `${route.resource.kind}List`,
      metadata: { resourceVersion: String(revision) },
      items,
    });
  }

  #watch(
    req: IncomingMessage,
    res: ServerResponse,
    route: Route,
    matches: Matcher,
    query: URLSearchParams,
  ): void {
    const rvParam = query.get("resourceVersion");
    const { store } = this.options.meta;
    let initial: { type: string; object: ObjectJson }[];
    if (rvParam === null || rvParam === "" || rvParam === "0") {
      // No resourceVersion: the current state as ADDED events, then changes (the apiserver's semantics).
      initial = store
        .list(route.resource.type, route.namespace)
        .map((s) => served(route.resource, s))
        .filter(matches)
        .map((object) => ({ type: "ADDED", object }));
    } else {
      if (!/^\d+$/.test(rvParam))
        throw new StatusError(
          400,
          "BadRequest",
          `resourceVersion: "${rvParam}" is not a resourceVersion of this server`,
        );
      const since = this.#history.since(Number(rvParam));
      if (since === undefined) {
        res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
        res.end(
          JSON.stringify({
            type: "ERROR",
            object: status(410, "Expired", `too old resource version: ${rvParam} (${store.revision})`),
          }) + "\n",
        );
        return;
      }
      initial = since
        .filter((e) => this.#inScope(route, e.object))
        .map((e) => ({ type: e.type, object: served(route.resource, e.object) }))
        .filter((e) => matches(e.object));
    }
    res.writeHead(200, {
      "content-type": "application/json",
      "transfer-encoding": "chunked",
      "cache-control": "no-cache",
    });
    // Headers now: a client waits for them before reading events, and there may be none for a while.
    res.flushHeaders();
    for (const event of initial) res.write(JSON.stringify(event) + "\n");
    const watcher = (event: StoreEvent): void => {
      if (!this.#inScope(route, event.object)) return;
      const object = served(route.resource, event.object);
      if (matches(object)) res.write(JSON.stringify({ type: event.type, object }) + "\n");
    };
    const timeoutParam = Number(query.get("timeoutSeconds") ?? "");
    const maxSeconds = this.options.maxWatchSeconds ?? 1800;
    const seconds =
      Number.isFinite(timeoutParam) && timeoutParam > 0 ? Math.min(timeoutParam, maxSeconds) : maxSeconds;
    const timer = setTimeout(() => res.end(), seconds * 1000);
    timer.unref();
    this.#watchers.add(watcher);
    this.#watches.add(res);
    const done = (): void => {
      clearTimeout(timer);
      this.#watchers.delete(watcher);
      this.#watches.delete(res);
    };
    res.on("close", done);
    req.on("close", done);
  }

  #groupList(): Record<string, unknown> {
    const groups = [...new Set(API_RESOURCES.filter((r) => r.group !== "").map((r) => r.group))];
    return {
      kind: "APIGroupList",
      apiVersion: "v1",
      groups: groups.map((name) => {
        const versions = [
          ...new Set(API_RESOURCES.filter((r) => r.group === name).map((r) => r.version)),
        ].map((version) => ({ groupVersion: `${name}/${version}`, version }));
        return { name, versions, preferredVersion: versions[0] };
      }),
    };
  }

  /** APIResourceList for `/api/v1` and `/apis/{group}/{version}`. */
  #discovery(path: string): Record<string, unknown> | undefined {
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
    if (!m) return undefined;
    const group = m[2] ?? "";
    const version = m[1] ?? m[3] ?? "";
    const resources = API_RESOURCES.filter((r) => r.group === group && r.version === version);
    if (resources.length === 0) return undefined;
    return {
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: group === "" ? version : `${group}/${version}`,
      resources: resources.map((r) => ({
        name: r.plural,
        singularName: r.singular,
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ["get", "list", "watch"],
        ...(r.shortNames && { shortNames: r.shortNames }),
      })),
    };
  }

  #json(res: ServerResponse, code: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  #text(res: ServerResponse, code: number, body: string): void {
    res.writeHead(code, { "content-type": "text/plain" });
    res.end(body);
  }
}

/** The stored object as the API serves it: kind set, resourceVersion = the store's revision. */
function served(resource: ApiResource, stored: StoredObject): ObjectJson {
  const object = stored.object;
  return {
    ...object,
    apiVersion: object.apiVersion ?? apiVersionOf(resource),
    kind: object.kind ?? resource.kind,
    metadata: {
      ...object.metadata,
      name: object.metadata?.name ?? stored.name,
      ...(resource.namespaced && { namespace: object.metadata?.namespace ?? stored.namespace }),
      resourceVersion: String(stored.revision),
    },
  };
}
