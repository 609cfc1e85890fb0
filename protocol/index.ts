/** The wire protocol shared by cloudcore, edgecore and the simulator: KubeEdge's beehive messages. */
export {
  CLUSTER_SCOPED_NAMESPACE,
  DEFAULT_PROJECT_ID,
  Group,
  KEEPALIVE_CONTENT,
  OK_CONTENT,
  Operation,
  ResourceType,
  Source,
  TRANSPORT_RESERVED_OPERATIONS,
} from "./constants.js";
export { requiresAck } from "./ack-policy.js";
export { decodeFrame, DEFAULT_MAX_FRAME_BYTES, type DecodeOptions } from "./decoder.js";
export { encodeMessage } from "./encoder.js";
export { FrameError, ProtocolError, ResourceError } from "./errors.js";
export {
  errorTo,
  newMessage,
  responseTo,
  type Message,
  type MessageHeader,
  type MessageRoute,
  type NewMessageOptions,
} from "./message.js";
export {
  formatResource,
  fromCloudResource,
  parseResource,
  toCloudResource,
  type ResourceRef,
} from "./resource.js";
export { EDGEFLEET_VERSION } from "./version.js";
