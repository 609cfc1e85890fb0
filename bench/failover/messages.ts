/** Messages between the failover benchmark's orchestrator and its edge client processes. */

export interface ClientStart {
  readonly type: "start";
  readonly token: string;
  readonly certificatePort: number;
  /** The balancer port this client's edges dial. */
  readonly tunnelPort: number;
  readonly firstNode: number;
  readonly count: number;
  readonly localAddress: string;
  /** Register a Node object per edge and renew its Lease (needed to judge Ready). */
  readonly register: boolean;
  readonly prefix: string;
}
export type ToClient = ClientStart | { readonly type: "status" } | { readonly type: "stop" };
export type FromClient =
  | {
      readonly type: "connected";
      readonly count: number;
      readonly failed: number;
      readonly elapsedMs: number;
    }
  | { readonly type: "status"; readonly connected: number; readonly total: number }
  | { readonly type: "error"; readonly message: string };
