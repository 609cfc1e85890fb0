import { CLUSTER_SCOPED_NAMESPACE } from "./constants.js";
import { ResourceError } from "./errors.js";

/**
 * Wire resource strings. The edge addresses only itself: `<namespace>/<type>[/<name>]`, with
 * namespace `null` for cluster-scoped objects (e.g. `null/node/edge-1`, `default/pod/nginx`,
 * `kube-node-lease/lease/edge-1`). Inside the cloud every resource is prefixed with
 * `node/<nodeName>/`, added on receipt and stripped before sending
 * (kubeedge cloud/pkg/cloudhub/dispatcher, cloud/pkg/common/messagelayer/util.go).
 */
export interface ResourceRef {
  /** Namespace, or `null` (the string) for cluster-scoped objects. */
  readonly namespace: string;
  readonly type: string;
  /** Object name; may be absent (e.g. `default/podlist`). May contain `/` for nested resources. */
  readonly name?: string;
}

const SEP = "/";
const NODE_PREFIX = "node";

/** Parses an edge-side resource string `<namespace>/<type>[/<name>]`. */
export function parseResource(resource: string): ResourceRef {
  const parts = resource.split(SEP);
  const [namespace, type, ...rest] = parts;
  if (namespace === undefined || namespace === "" || type === undefined || type === "") {
    throw new ResourceError(`resource ${JSON.stringify(resource)} is not <namespace>/<type>[/<name>]`);
  }
  const name = rest.join(SEP);
  if (rest.length > 0 && name === "") {
    throw new ResourceError(`resource ${JSON.stringify(resource)} has an empty name`);
  }
  return rest.length > 0 ? { namespace, type, name } : { namespace, type };
}

export function formatResource(ref: ResourceRef): string {
  const namespace = ref.namespace === "" ? CLUSTER_SCOPED_NAMESPACE : ref.namespace;
  return ref.name === undefined
    ? `${namespace}${SEP}${ref.type}`
    : `${namespace}${SEP}${ref.type}${SEP}${ref.name}`;
}

/** `node/<nodeName>/<edgeResource>`: how the cloud names a resource of one node. */
export function toCloudResource(nodeName: string, edgeResource: string): string {
  if (nodeName === "" || nodeName.includes(SEP))
    throw new ResourceError(`invalid node name ${JSON.stringify(nodeName)}`);
  return `${NODE_PREFIX}${SEP}${nodeName}${SEP}${edgeResource}`;
}

/**
 * Splits a cloud resource `node/<nodeName>/<edgeResource>`; undefined when it is not of that form.
 * Unlike KubeEdge's TrimMessage (a bare `HasPrefix(resource, "node")`), a namespace that merely
 * starts with "node" is not mistaken for the prefix.
 */
export function fromCloudResource(
  resource: string,
): { readonly nodeName: string; readonly edgeResource: string } | undefined {
  if (!resource.startsWith(NODE_PREFIX + SEP)) return undefined;
  const afterPrefix = resource.slice(NODE_PREFIX.length + 1);
  const sep = afterPrefix.indexOf(SEP);
  if (sep <= 0 || sep === afterPrefix.length - 1) return undefined;
  return { nodeName: afterPrefix.slice(0, sep), edgeResource: afterPrefix.slice(sep + 1) };
}
