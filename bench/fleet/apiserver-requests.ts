/**
 * What the apiserver was asked to do during a benchmark: its own request counters
 * (apiserver_request_total by verb, resource and subresource) and watch events sent
 * (apiserver_watch_events_total by kind), read from its /metrics before and after and subtracted.
 * This is the "where the time went" on the apiserver side: which writes and which watch fan-out
 * each emulated node costs.
 */
import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

export interface ApiserverCounters {
  /** `VERB resource[/subresource]` → requests. */
  readonly requests: Record<string, number>;
  /** Resource (or kind, before Kubernetes 1.32) → watch events sent to watchers. */
  readonly watchEvents: Record<string, number>;
}

/** Reads the apiserver's request and watch-event counters (as admin, from the kubeconfig). */
export async function readApiserverCounters(kubeConfig: KubeConfig): Promise<ApiserverCounters> {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (!server) throw new Error("kubeconfig has no current cluster");
  const options: https.RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(options);
  const text = await new Promise<string>((resolve, reject) => {
    const req = https.get(new URL("/metrics", server), options, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(Buffer.concat(chunks).toString("utf8"))
          : reject(new Error(`GET /metrics: ${res.statusCode}`)),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.setTimeout(30_000, () => req.destroy(new Error("GET /metrics: timed out")));
  });
  return parseApiserverCounters(text);
}

/** Parses the two counter families out of Prometheus text exposition. */
export function parseApiserverCounters(text: string): ApiserverCounters {
  const requests: Record<string, number> = {};
  const watchEvents: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = /^(apiserver_request_total|apiserver_watch_events_total)\{([^}]*)\} (\S+)/.exec(line);
    if (!match) continue;
    const labels = Object.fromEntries(
      [...(match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? "", m[2] ?? ""]),
    );
    const value = Number(match[3]);
    if (match[1] === "apiserver_request_total") {
      // Non-resource requests (/healthz, /metrics) have no resource: not the fleet's load.
      if (!labels["resource"]) continue;
      const resource = labels["subresource"]
        ? `${labels["resource"]}/${labels["subresource"]}`
        : labels["resource"];
      const key = `${labels["verb"]} ${resource}`;
      requests[key] = (requests[key] ?? 0) + value;
    } else {
      // Kubernetes ≥ 1.32 labels watch events by resource; older releases by kind.
      const kind = labels["resource"] || labels["kind"] || "";
      watchEvents[kind] = (watchEvents[kind] ?? 0) + value;
    }
  }
  return { requests, watchEvents };
}

/** after − before, largest first, dropping what did not move. */
export function counterDelta(
  before: ApiserverCounters,
  after: ApiserverCounters,
): { requests: Record<string, number>; watchEvents: Record<string, number> } {
  const diff = (a: Record<string, number>, b: Record<string, number>): Record<string, number> =>
    Object.fromEntries(
      Object.entries(b)
        .map(([k, v]) => [k, Math.round(v - (a[k] ?? 0))] as const)
        .filter(([, v]) => v > 0)
        .sort((x, y) => y[1] - x[1]),
    );
  return {
    requests: diff(before.requests, after.requests),
    watchEvents: diff(before.watchEvents, after.watchEvents),
  };
}
