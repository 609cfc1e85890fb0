import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { Informer } from "../../cloudcore/controllers/informer.js";
import type { KubeRest } from "../../cloudcore/kube/kube-rest.js";
import { isNodeReady, type NodeJson } from "../../cloudcore/kube/objects.js";

interface NodeView {
  metadata: { name?: string; resourceVersion?: string };
  ready: boolean;
  tainted: boolean;
}

/** Watches the simulation's Nodes in the apiserver (slimmed to Ready and tainted) and counts them. */
export class NodeReadiness {
  readonly #informer: Informer<NodeView>;

  /** `labelSelector` names this shard's nodes (other shards of the run share the prefix). */
  constructor(kubeConfig: KubeConfig, rest: KubeRest, labelSelector: string, log: Logger) {
    const path = "/api/v1/nodes";
    const query = { labelSelector };
    this.#informer = new Informer<NodeView>({
      kubeConfig,
      path,
      query,
      list: () => rest.list<NodeView>(path, query),
      slim: (node) => {
        const full = node as unknown as NodeJson;
        return {
          metadata: {
            ...(full.metadata?.name !== undefined && { name: full.metadata.name }),
            ...(full.metadata?.resourceVersion !== undefined && {
              resourceVersion: full.metadata.resourceVersion,
            }),
          },
          ready: isNodeReady(full),
          tainted: (full.spec?.taints ?? []).length > 0,
        };
      },
      onEvent: () => undefined,
      log,
    });
  }

  start(): void {
    this.#informer.start();
  }

  counts(): { nodes: number; ready: number; tainted: number } {
    const all = this.#informer.list();
    return {
      nodes: all.length,
      ready: all.filter((n) => n.ready).length,
      tainted: all.filter((n) => n.tainted).length,
    };
  }

  stop(): Promise<void> {
    return this.#informer.stop();
  }
}
