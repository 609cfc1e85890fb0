/**
 * autocannon 8 ships no type declarations; this is the part of its API loadtest/run/http-load.ts
 * uses, written from its lib/run.js (options it reads, the events it emits, the result it passes).
 */
declare module "autocannon" {
  import type { EventEmitter } from "node:events";

  export interface AutocannonOptions {
    url: string;
    connections?: number;
    pipelining?: number;
    /** Seconds. */
    duration?: number;
    /** Requests per second over all connections. */
    overallRate?: number;
    /** Seconds before a request counts as a timeout. */
    timeout?: number;
    method?: string;
    headers?: Record<string, string>;
    /** Passed to tls.connect (autocannon itself sets rejectUnauthorized: false). */
    tlsOptions?: Record<string, unknown>;
    /** Do not aggregate the histograms into the result (its workers mode). */
    skipAggregateResult?: boolean;
  }

  export interface AutocannonResult {
    totalRequests: number;
    totalCompletedRequests: number;
    totalBytes: number;
    errors: number;
    timeouts: number;
    non2xx: number;
    resets: number;
    "2xx": number;
    statusCodeStats: Record<string, { count: number }>;
    /** Seconds. */
    duration: number;
    start: Date;
    finish: Date;
  }

  export interface AutocannonInstance extends EventEmitter {
    on(
      event: "response",
      listener: (client: unknown, statusCode: number, resBytes: number, responseTimeMs: number) => void,
    ): this;
    on(event: "reqError", listener: (err: Error) => void): this;
    on(event: "done", listener: (result: AutocannonResult) => void): this;
    stop(): void;
  }

  function autocannon(
    options: AutocannonOptions,
    callback: (err: Error | null, result: AutocannonResult) => void,
  ): AutocannonInstance;
  export default autocannon;
}
