import { Counter, Registry } from "prom-client";

/** cloudcore's Prometheus metrics, registered on one registry per cloudcore instance. */
export interface CloudcoreMetrics {
  readonly registry: Registry;
  /** Certificate requests by result: issued, bad_request, unauthorized, forbidden, error. */
  readonly joinAttempts: Counter<"result">;
}

export function createCloudcoreMetrics(registry = new Registry()): CloudcoreMetrics {
  return {
    registry,
    joinAttempts: new Counter({
      name: "edgefleet_join_attempts_total",
      help: "Certificate requests to the certificate server, by result",
      labelNames: ["result"] as const,
      registers: [registry],
    }),
  };
}
