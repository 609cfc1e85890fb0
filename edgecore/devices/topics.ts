/**
 * The MQTT topics between the edge and device mappers. KubeEdge's (edge/pkg/devicetwin/dtcommon/
 * common.go) start with `$hw/events/`; a device id is `<namespace>/<name>`, so it spans two topic
 * levels. The profile topic is edgefleet's own (docs/device-twin.md, "Mapper configuration").
 */

const DEVICE_PREFIX = "$hw/events/device/";
const NODE_PREFIX = "$hw/events/node/";
const PROFILE_PREFIX = "edgefleet/node/";

export const TwinSuffix = {
  Update: "twin/update",
  UpdateResult: "twin/update/result",
  Delta: "twin/update/delta",
  Document: "twin/update/document",
  Get: "twin/get",
  GetResult: "twin/get/result",
  StateUpdate: "state/update",
  StateUpdateResult: "state/update/result",
} as const;
export type TwinSuffix = (typeof TwinSuffix)[keyof typeof TwinSuffix];

export const MembershipSuffix = {
  Get: "membership/get",
  GetResult: "membership/get/result",
  Updated: "membership/updated",
} as const;
export type MembershipSuffix = (typeof MembershipSuffix)[keyof typeof MembershipSuffix];

/** `<namespace>/<name>`, as KubeEdge's GetResourceID and our cloud's device keys. */
export const deviceIdOf = (namespace: string, name: string): string => `${namespace}/${name}`;

/** Splits a device id; undefined unless it is exactly two non-empty parts. */
export function splitDeviceId(id: string): { namespace: string; name: string } | undefined {
  const parts = id.split("/");
  const [namespace, name] = parts;
  if (parts.length !== 2 || !namespace || !name) return undefined;
  return { namespace, name };
}

/** True for a topic level that is safe to put in a topic: no separator, wildcard or NUL. */
export const isTopicLevel = (level: string): boolean =>
  level !== "" && !/[/+#]/.test(level) && !level.includes("\u0000");

export const deviceTopic = (deviceId: string, suffix: TwinSuffix): string =>
  `${DEVICE_PREFIX}${deviceId}/${suffix}`;

export const nodeTopic = (nodeName: string, suffix: MembershipSuffix): string =>
  `${NODE_PREFIX}${nodeName}/${suffix}`;

/** edgefleet: the retained device profile a mapper configures itself from. */
export const profileTopic = (nodeName: string, deviceId: string): string =>
  `${PROFILE_PREFIX}${nodeName}/device/${deviceId}/profile`;

/** Subscriptions of the edge (DeviceTwin), as KubeEdge's eventbus SubTopics but for one node. */
export function edgeSubscriptions(nodeName: string): string[] {
  return [
    `${DEVICE_PREFIX}+/+/twin/+`,
    `${DEVICE_PREFIX}+/+/${TwinSuffix.StateUpdate}`,
    nodeTopic(nodeName, MembershipSuffix.Get),
    profileFilter(nodeName),
  ];
}

/** Every device profile of one node. */
export const profileFilter = (nodeName: string): string => `${PROFILE_PREFIX}${nodeName}/device/+/+/profile`;

export type ParsedTopic =
  | { readonly kind: "device"; readonly deviceId: string; readonly suffix: string }
  | { readonly kind: "node"; readonly nodeName: string; readonly suffix: string }
  | { readonly kind: "profile"; readonly nodeName: string; readonly deviceId: string };

/** What a topic addresses; undefined for topics outside these families. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  if (topic.startsWith(DEVICE_PREFIX)) {
    const [namespace, name, ...rest] = topic.slice(DEVICE_PREFIX.length).split("/");
    if (!namespace || !name || rest.length === 0) return undefined;
    return { kind: "device", deviceId: deviceIdOf(namespace, name), suffix: rest.join("/") };
  }
  if (topic.startsWith(NODE_PREFIX)) {
    const [nodeName, ...rest] = topic.slice(NODE_PREFIX.length).split("/");
    if (!nodeName || rest.length === 0) return undefined;
    return { kind: "node", nodeName, suffix: rest.join("/") };
  }
  if (topic.startsWith(PROFILE_PREFIX)) {
    const parts = topic.slice(PROFILE_PREFIX.length).split("/");
    const [nodeName, device, namespace, name, last] = parts;
    if (parts.length !== 5 || device !== "device" || last !== "profile" || !nodeName || !namespace || !name)
      return undefined;
    return { kind: "profile", nodeName, deviceId: deviceIdOf(namespace, name) };
  }
  return undefined;
}
