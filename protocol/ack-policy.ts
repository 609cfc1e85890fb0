import { Group, OK_CONTENT, Operation, ResourceType, Source } from "./constants.js";
import type { Message } from "./message.js";
import { parseResource } from "./resource.js";

const APPLICATION_RESPONSE = "applicationResponse";
const NO_ACK_SOURCES: ReadonlySet<string> = new Set(["taskmanager", "nodeupgradejobcontroller"]);
const NO_ACK_EDGECONTROLLER_TYPES: ReadonlySet<string> = new Set([
  ResourceType.Lease,
  ResourceType.NodePatch,
  ResourceType.PodPatch,
  ResourceType.PodStatus,
  ResourceType.CertificateSigningRequest,
]);

/**
 * Whether a cloud → edge message must be acknowledged by the edge before the cloud considers it
 * delivered, following KubeEdge's noAckRequired (cloud/pkg/cloudhub/dispatcher/message_dispatcher.go).
 * Objects the edge stores (pods, configmaps, secrets, node updates, twin membership excepted) need an
 * ack; replies, streams of tokens/CA, and status write-backs do not. `edgeResource` is the resource
 * as the edge sees it (without the `node/<name>/` prefix).
 */
export function requiresAck(message: Message): boolean {
  const { route } = message;
  const resource = route.resource ?? "";
  const operation = route.operation ?? "";
  // KubeEdge matches these as substrings of the resource; so do we, for identical behaviour.
  if (
    resource.includes(ResourceType.PodList) ||
    resource.includes("membership") ||
    resource.includes("twin/cloud_updated") ||
    resource.includes(ResourceType.ServiceAccountToken) ||
    resource.includes(ResourceType.K8sCA)
  ) {
    return false;
  }
  if (operation === APPLICATION_RESPONSE || route.group === Group.User) return false;
  if (route.source !== undefined && NO_ACK_SOURCES.has(route.source)) return false;
  if (operation === Operation.Response && message.content === OK_CONTENT) return false;
  if (route.source === Source.EdgeController) {
    let type: string | undefined;
    try {
      type = parseResource(resource).type;
    } catch {
      type = undefined;
    }
    if (type === ResourceType.Node && operation !== Operation.Update) return false;
    if (type !== undefined && NO_ACK_EDGECONTROLLER_TYPES.has(type)) return false;
    if (type === ResourceType.Pod && operation === Operation.Response) return false;
  }
  return true;
}
