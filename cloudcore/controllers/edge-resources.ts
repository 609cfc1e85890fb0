import { CLUSTER_SCOPED_NAMESPACE, ResourceType } from "../../protocol/constants.js";
import { formatResource, parseResource } from "../../protocol/resource.js";
import type { KubeObject } from "../kube/objects.js";

/** The label that makes a Node an edge node (KubeEdge's EdgeNodeRoleKey). */
export const EDGE_NODE_LABEL = "node-role.kubernetes.io/edge";

/** Wire resource of a namespaced object of `type` as the edge names it: `<ns>/<type>/<name>`. */
export const edgeResourceOf = (type: string, namespace: string, name: string): string =>
  formatResource({ namespace, type, name });

export const podResource = (namespace: string, name: string): string =>
  edgeResourceOf(ResourceType.Pod, namespace, name);

export const nodeResource = (name: string): string =>
  edgeResourceOf(ResourceType.Node, CLUSTER_SCOPED_NAMESPACE, name);

/**
 * What an edge needs to delete an object it holds under `resource` when the object itself is gone:
 * KubeEdge's sync controller sends such a stub (namespace, name, uid).
 */
export function deletionStub(resource: string, uid: string | undefined): KubeObject {
  const ref = parseResource(resource);
  const kind = {
    pod: "Pod",
    configmap: "ConfigMap",
    secret: "Secret",
    node: "Node",
    device: "Device",
    devicemodel: "DeviceModel",
  }[ref.type];
  const isDevice = ref.type === "device" || ref.type === "devicemodel";
  return {
    apiVersion: isDevice ? "devices.kubeedge.io/v1beta1" : "v1",
    ...(kind !== undefined && { kind }),
    metadata: {
      ...(ref.namespace !== CLUSTER_SCOPED_NAMESPACE && { namespace: ref.namespace }),
      ...(ref.name !== undefined && { name: ref.name }),
      ...(uid !== undefined && { uid }),
    },
  };
}
