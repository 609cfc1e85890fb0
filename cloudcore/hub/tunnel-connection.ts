/**
 * What the session layer needs from one WebSocket, whichever listener accepted it (uWS for our own
 * edges, node:https + ws for KubeEdge edgecores).
 */
export interface TunnelConnection {
  /**
   * Writes one frame: a string as a text frame (a message), bytes as a binary frame (a stream
   * frame). The caller checks `bufferedAmount` first; this never queues itself.
   */
  send(frame: string | Uint8Array): void;
  /** Bytes accepted but not yet written to the socket. */
  readonly bufferedAmount: number;
  /** Closes the connection; safe to call more than once. */
  close(code: number, reason: string): void;
  readonly remoteAddress: string;
  /**
   * Whether stream frames may be sent on it: edgefleet's edges take them (binary frames beside the
   * messages); a KubeEdge edgecore expects its streams on a separate tunnel and does not.
   */
  readonly carriesStreams: boolean;
}

/** Close codes cloudhub uses (4000-4999 is the application range). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  Replaced: 4000,
  KeepaliveTimeout: 4001,
  SlowConsumer: 4002,
  ProtocolError: 4003,
  /** The node is owned by another replica that did not hand it over, or admission is full: retry later. */
  TryLater: 4005,
  /** This replica gave the node up (handover, rebalancing, lost ownership): reconnect (maybe elsewhere). */
  Reconnect: 4006,
} as const;
