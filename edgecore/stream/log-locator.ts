import type { CriClient } from "../edged/cri/cri-client.js";
import { Labels } from "../edged/runtime-config.js";

/** The pod or container the request names is not on this node. */
export class ContainerNotFoundError extends Error {
  override readonly name = "ContainerNotFoundError";
  readonly code = "EF_ERR_CONTAINER_NOT_FOUND";
}

export interface LocatedLog {
  readonly containerId: string;
  /** The CRI log file (the runtime's log_path). */
  readonly path: string;
  /** Whether the container still runs (a follow stops once it does not). */
  running(): Promise<boolean>;
}

/**
 * Finds the log of a pod's container as the kubelet does for `/containerLogs/{ns}/{pod}/{container}`:
 * the newest instance, or with `previous` the one before it; through the runtime's own labels and
 * log path, so it works for any instance edged created, before or after an edgecore restart.
 */
export async function locateContainerLog(
  cri: CriClient,
  request: {
    readonly node: string;
    readonly namespace: string;
    readonly pod: string;
    readonly container: string;
    readonly previous?: boolean;
  },
): Promise<LocatedLog> {
  const containers = await cri.listContainers({
    labelSelector: {
      [Labels.node]: request.node,
      [Labels.podNamespace]: request.namespace,
      [Labels.podName]: request.pod,
      [Labels.containerName]: request.container,
    },
  });
  const byAttempt = [...containers].sort((a, b) => (b.metadata?.attempt ?? 0) - (a.metadata?.attempt ?? 0));
  const chosen = request.previous ? byAttempt[1] : byAttempt[0];
  const what = `container "${request.container}" of pod ${request.namespace}/${request.pod}`;
  if (!chosen)
    throw new ContainerNotFoundError(
      request.previous ? `previous terminated ${what} not found` : `${what} is not on node ${request.node}`,
    );
  const { status } = await cri.containerStatus(chosen.id);
  if (status.logPath === "") throw new ContainerNotFoundError(`${what} has no log file`);
  return {
    containerId: chosen.id,
    path: status.logPath,
    running: async () => {
      try {
        return (await cri.containerStatus(chosen.id)).status.state === "CONTAINER_RUNNING";
      } catch {
        return false;
      }
    },
  };
}
