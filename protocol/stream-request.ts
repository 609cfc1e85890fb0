import { z } from "zod";

/**
 * The payload of a *_CONNECT stream frame, as KubeEdge's cloudstream writes it
 * (pkg/stream/edged{logs,exec,attach}connection.go): the apiserver's request as Go marshals it,
 * `{"MessID":n,"url":{…url.URL fields…},"header":{name:[values]},"method":"POST"}`. The URL is
 * rewritten to the edge's local kubelet port (`http://127.0.0.1:10350<path>?<query>`).
 */
const ConnectPayloadSchema = z.object({
  MessID: z.number().int().nonnegative(),
  url: z.object({
    Scheme: z.string().optional(),
    Host: z.string().optional(),
    Path: z.string().min(1, "the request path is empty"),
    RawQuery: z.string().optional(),
  }),
  header: z.record(z.string(), z.array(z.string())).optional(),
  method: z.string().optional(),
});

/** Where KubeEdge's edge dials its kubelet (edged's port), kept in the URL for compatibility. */
export const EDGED_STREAM_HOST = "127.0.0.1:10350";

export interface StreamConnectRequest {
  readonly id: number;
  readonly method: string;
  readonly path: string;
  /** The raw query, without `?`. */
  readonly query: string;
  /** Lower-case names. */
  readonly headers: ReadonlyMap<string, readonly string[]>;
}

/** A stream request that cannot be served; `status` is the HTTP status the caller gets. */
export class StreamRequestError extends Error {
  override readonly name = "StreamRequestError";
  readonly code = "EF_ERR_STREAM_REQUEST";
  constructor(
    readonly status: 400 | 403 | 404 | 405 | 500 | 502 | 503,
    message: string,
  ) {
    super(message);
  }
}

export function encodeConnectPayload(request: StreamConnectRequest): Uint8Array {
  const header: Record<string, string[]> = {};
  for (const [name, values] of request.headers) header[canonicalHeader(name)] = [...values];
  return Buffer.from(
    JSON.stringify({
      MessID: request.id,
      url: { Scheme: "http", Host: EDGED_STREAM_HOST, Path: request.path, RawQuery: request.query },
      header,
      method: request.method,
    }),
    "utf8",
  );
}

/** Decodes a CONNECT payload; StreamRequestError(400) names the field that is wrong. */
export function decodeConnectPayload(bytes: Uint8Array): StreamConnectRequest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"));
  } catch (err) {
    throw new StreamRequestError(400, `connect payload is not JSON: ${(err as Error).message}`);
  }
  const parsed = ConnectPayloadSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new StreamRequestError(400, `connect payload: ${issue?.path.join(".")}: ${issue?.message}`);
  }
  const { MessID, url, header, method } = parsed.data;
  const headers = new Map<string, string[]>();
  for (const [name, values] of Object.entries(header ?? {})) {
    const key = name.toLowerCase();
    headers.set(key, [...(headers.get(key) ?? []), ...values]);
  }
  return { id: MessID, method: method ?? "GET", path: url.Path, query: url.RawQuery ?? "", headers };
}

/** Go's http.CanonicalHeaderKey, which KubeEdge's edge expects in the header map. */
function canonicalHeader(name: string): string {
  return name
    .split("-")
    .map((part) => (part ? part[0]?.toUpperCase() + part.slice(1).toLowerCase() : part))
    .join("-");
}

export interface ContainerRef {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
}

export interface LogRequest extends ContainerRef {
  readonly kind: "logs";
  readonly follow: boolean;
  readonly previous: boolean;
  readonly timestamps: boolean;
  readonly tailLines?: number;
  readonly limitBytes?: number;
  /** From sinceSeconds or sinceTime (the later wins), ms since the epoch. */
  readonly sinceMs?: number;
}

export interface ExecRequest extends ContainerRef {
  readonly kind: "exec" | "attach";
  /** Empty for attach. */
  readonly command: readonly string[];
  readonly stdin: boolean;
  readonly stdout: boolean;
  readonly stderr: boolean;
  readonly tty: boolean;
}

export interface PortForwardRequest {
  readonly kind: "portForward";
  readonly namespace: string;
  readonly pod: string;
  /** Ports named in the query (kubectl's SPDY path names none: they come in the streams). */
  readonly ports: readonly number[];
}

export type KubeletStreamRequest = LogRequest | ExecRequest | PortForwardRequest;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

function segment(value: string | undefined, what: string, pattern: RegExp, max: number): string {
  let decoded: string;
  try {
    decoded = decodeURIComponent(value ?? "");
  } catch {
    throw new StreamRequestError(400, `${what}: bad percent-encoding`);
  }
  if (decoded.length === 0 || decoded.length > max || !pattern.test(decoded))
    throw new StreamRequestError(400, `${what} ${JSON.stringify(decoded)} is not a valid name`);
  return decoded;
}

function flag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  // The kubelet's query decoder (strconv.ParseBool) accepts these.
  if (["1", "t", "T", "true", "TRUE", "True"].includes(value)) return true;
  if (["0", "f", "F", "false", "FALSE", "False", ""].includes(value)) return false;
  throw new StreamRequestError(400, `${name}: ${JSON.stringify(value)} is not a boolean`);
}

function integer(query: URLSearchParams, name: string, min: number): number | undefined {
  const value = query.get(name);
  if (value === null) return undefined;
  if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min)
    throw new StreamRequestError(400, `${name}: ${JSON.stringify(value)} must be an integer ≥ ${min}`);
  return Number(value);
}

/**
 * Parses a kubelet streaming request as the apiserver sends it (paths and query as in
 * docs/stream-facts.md §1, also the `/{ns}/{pod}/{uid}/{container}` forms the kubelet routes).
 * `now` is for sinceSeconds. Throws StreamRequestError (404 for an unknown path, 400 for a bad
 * parameter, 405 for a bad method).
 */
export function parseKubeletRequest(
  method: string,
  path: string,
  rawQuery: string,
  now: number = Date.now(),
): KubeletStreamRequest {
  const parts = path.split("/").slice(1);
  const [root, ns, pod, third, fourth] = parts;
  const query = new URLSearchParams(rawQuery);
  const namespace = (): string => segment(ns, "namespace", DNS_LABEL, 63);
  const podName = (): string => segment(pod, "pod name", DNS_SUBDOMAIN, 253);
  const containerName = (): string =>
    segment(parts.length === 5 ? fourth : third, "container name", DNS_LABEL, 63);
  const allowed = (...methods: string[]): void => {
    if (!methods.includes(method.toUpperCase()))
      throw new StreamRequestError(405, `${method} is not allowed on /${root}`);
  };
  switch (root) {
    case "containerLogs": {
      if (parts.length !== 4) break;
      allowed("GET");
      const sinceSeconds = integer(query, "sinceSeconds", 1);
      const sinceTime = query.get("sinceTime");
      let sinceMs = sinceSeconds === undefined ? undefined : now - sinceSeconds * 1000;
      if (sinceTime !== null) {
        const at = Date.parse(sinceTime);
        if (Number.isNaN(at) || !/^\d{4}-\d{2}-\d{2}T/.test(sinceTime))
          throw new StreamRequestError(
            400,
            `sinceTime: ${JSON.stringify(sinceTime)} is not an RFC 3339 time`,
          );
        sinceMs = sinceMs === undefined ? at : Math.max(sinceMs, at);
      }
      const tailLines = integer(query, "tailLines", 0);
      const limitBytes = integer(query, "limitBytes", 1);
      return {
        kind: "logs",
        namespace: namespace(),
        pod: podName(),
        container: containerName(),
        follow: flag(query, "follow"),
        previous: flag(query, "previous"),
        timestamps: flag(query, "timestamps"),
        ...(tailLines !== undefined && { tailLines }),
        ...(limitBytes !== undefined && { limitBytes }),
        ...(sinceMs !== undefined && { sinceMs }),
      };
    }
    case "exec":
    case "attach": {
      if (parts.length !== 4 && parts.length !== 5) break;
      allowed("GET", "POST");
      const command = query.getAll("command");
      if (root === "exec" && command.length === 0)
        throw new StreamRequestError(400, "exec: no command given (command=…)");
      const tty = flag(query, "tty");
      const request: ExecRequest = {
        kind: root,
        namespace: namespace(),
        pod: podName(),
        container: containerName(),
        command: root === "exec" ? command : [],
        stdin: flag(query, "input"),
        stdout: flag(query, "output"),
        // As the kubelet does: a terminal merges stderr into stdout (containerd refuses both).
        stderr: flag(query, "error") && !tty,
        tty,
      };
      if (!request.stdin && !request.stdout && !flag(query, "error"))
        throw new StreamRequestError(400, "you must specify at least 1 of stdin, stdout, stderr");
      return request;
    }
    case "portForward": {
      if (parts.length !== 3 && parts.length !== 4) break;
      allowed("GET", "POST");
      const ports: number[] = [];
      for (const value of query.getAll("port").flatMap((p) => p.split(","))) {
        const port = Number(value);
        if (!/^\d+$/.test(value) || port < 1 || port > 65535)
          throw new StreamRequestError(400, `port: ${JSON.stringify(value)} is not a port number`);
        ports.push(port);
      }
      return { kind: "portForward", namespace: namespace(), pod: podName(), ports };
    }
  }
  throw new StreamRequestError(404, `${path} is not a kubelet streaming path`);
}
