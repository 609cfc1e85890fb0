import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { KubeRest } from "../kube/kube-rest.js";
import type { KubeObject } from "../kube/objects.js";
import type { CloudcoreMetrics } from "../metrics.js";
import { Informer, type InformerEvent } from "./informer.js";

export interface WatchedInformerOptions<T extends KubeObject> {
  readonly kubeConfig: KubeConfig;
  readonly rest: KubeRest;
  readonly metrics: CloudcoreMetrics;
  readonly log: Logger;
  /** Metric label, e.g. `pods`. */
  readonly resource: string;
  readonly path: string;
  readonly query?: Record<string, string>;
  readonly handle: (type: InformerEvent, object: T) => void;
}

/**
 * A controller's informer: lists plain JSON through KubeRest, counts every event in
 * edgefleet_watch_events_total, and contains a handler's exception to that event (logged), so one
 * bad object cannot stop the watch.
 */
export function watchedInformer<T extends KubeObject>(options: WatchedInformerOptions<T>): Informer<T> {
  const { resource, path, query = {}, metrics, log, handle } = options;
  return new Informer<T>({
    kubeConfig: options.kubeConfig,
    path,
    query,
    list: () => options.rest.list<T>(path, query),
    onEvent: (type, object) => {
      metrics.watchEvents.inc({ resource, type });
      try {
        handle(type, object);
      } catch (err) {
        log.error({ err, resource, type, name: object.metadata?.name }, "handling a watch event failed");
      }
    },
    log,
  });
}
