/**
 * The kinds of object the node holds, as the Kubernetes API names them: how the MetaServer maps
 * `/api/v1/namespaces/{ns}/pods` onto the store's `pod` rows and back.
 */
export interface ApiResource {
  /** The store's (wire) type: `pod`, `configmap`… */
  readonly type: string;
  /** "" for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly singular: string;
  readonly kind: string;
  readonly namespaced: boolean;
  /** Field selectors accepted beyond metadata.name and metadata.namespace. */
  readonly fieldSelectors: readonly string[];
  readonly shortNames?: readonly string[];
}

export const DEVICES_GROUP = "devices.kubeedge.io";

export const API_RESOURCES: readonly ApiResource[] = [
  {
    type: "pod",
    group: "",
    version: "v1",
    plural: "pods",
    singular: "pod",
    kind: "Pod",
    namespaced: true,
    fieldSelectors: ["spec.nodeName", "status.phase", "spec.restartPolicy", "status.podIP"],
    shortNames: ["po"],
  },
  {
    type: "configmap",
    group: "",
    version: "v1",
    plural: "configmaps",
    singular: "configmap",
    kind: "ConfigMap",
    namespaced: true,
    fieldSelectors: [],
    shortNames: ["cm"],
  },
  {
    type: "secret",
    group: "",
    version: "v1",
    plural: "secrets",
    singular: "secret",
    kind: "Secret",
    namespaced: true,
    fieldSelectors: ["type"],
  },
  {
    type: "service",
    group: "",
    version: "v1",
    plural: "services",
    singular: "service",
    kind: "Service",
    namespaced: true,
    fieldSelectors: [],
    shortNames: ["svc"],
  },
  {
    type: "node",
    group: "",
    version: "v1",
    plural: "nodes",
    singular: "node",
    kind: "Node",
    namespaced: false,
    fieldSelectors: ["spec.unschedulable"],
    shortNames: ["no"],
  },
  {
    type: "device",
    group: DEVICES_GROUP,
    version: "v1beta1",
    plural: "devices",
    singular: "device",
    kind: "Device",
    namespaced: true,
    fieldSelectors: ["spec.nodeName"],
  },
  {
    type: "devicemodel",
    group: DEVICES_GROUP,
    version: "v1beta1",
    plural: "devicemodels",
    singular: "devicemodel",
    kind: "DeviceModel",
    namespaced: true,
    fieldSelectors: [],
  },
];

export const apiVersionOf = (r: ApiResource): string =>
  r.group === "" ? r.version : `${r.group}/${r.version}`;

export function resourceByPath(group: string, version: string, plural: string): ApiResource | undefined {
  return API_RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}
