/** Messages between the tunnel benchmark's orchestrator and its server and client processes. */

export interface ServerStart {
  readonly type: "start";
  /** Admin kubeconfig of the real apiserver that holds the CA and join tokens. */
  readonly kubeconfig: string;
  readonly namespace: string;
}
export type ToServer = ServerStart | { readonly type: "rss" } | { readonly type: "stop" };
export type FromServer =
  | {
      readonly type: "ready";
      readonly port: number;
      readonly certificatePort: number;
      readonly token: string;
    }
  | { readonly type: "rss"; readonly rssBytes: number; readonly sessions: number };

export interface ClientStart {
  readonly type: "start";
  readonly token: string;
  readonly certificatePort: number;
  readonly serverPort: number;
  readonly firstNode: number;
  readonly count: number;
  readonly localAddress: string;
}
export interface RatePhase {
  readonly type: "rtt";
  /** Messages per second this client sends. */
  readonly rate: number;
  readonly durationMs: number;
  readonly payloadBytes: number;
}
export interface ThroughputPhase {
  readonly type: "throughput";
  /** Requests outstanding at once from this client. */
  readonly window: number;
  readonly durationMs: number;
  readonly payloadBytes: number;
}
export type ToClient = ClientStart | RatePhase | ThroughputPhase | { readonly type: "stop" };
export type FromClient =
  | { readonly type: "joined"; readonly count: number; readonly elapsedMs: number }
  | {
      readonly type: "connected";
      readonly count: number;
      readonly elapsedMs: number;
      readonly failed: number;
    }
  | {
      readonly type: "rtt-done";
      readonly histogram: string;
      readonly sent: number;
      readonly received: number;
    }
  | { readonly type: "throughput-done"; readonly received: number; readonly elapsedMs: number }
  | { readonly type: "error"; readonly code: string; readonly message: string };

/** The echo request clients send: cloudhub's bench server answers it with a response. */
export const ECHO_RESOURCE = "default/bench/echo";
