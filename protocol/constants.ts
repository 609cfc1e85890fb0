/**
 * KubeEdge's beehive message constants, as they appear on the cloudhub/edgehub wire.
 * Sources (kubeedge/kubeedge): staging/src/github.com/kubeedge/beehive/pkg/core/model/message.go,
 * edge/pkg/common/message/message.go, edge/pkg/common/modules/, common/constants/default.go.
 */

export const Operation = {
  Insert: "insert",
  Delete: "delete",
  Query: "query",
  Update: "update",
  Patch: "patch",
  Upload: "upload",
  Response: "response",
  /** An error reply; its content is the error text. */
  Error: "error",
  /** Edge → cloud heartbeat (edgehub, every 15 s by default); only these reset the cloud's timer. */
  Keepalive: "keepalive",
} as const;
export type Operation = (typeof Operation)[keyof typeof Operation];

/**
 * Operations that KubeEdge's viaduct transport consumes itself (auto-replying "ack"), so they never
 * reach the application on a KubeEdge peer: never send them.
 */
export const TRANSPORT_RESERVED_OPERATIONS: ReadonlySet<string> = new Set(["config", "ping", "pong"]);

export const ResourceType = {
  Pod: "pod",
  ConfigMap: "configmap",
  ServiceAccountToken: "serviceaccounttoken",
  Secret: "secret",
  Node: "node",
  PodList: "podlist",
  PodStatus: "podstatus",
  PodPatch: "podpatch",
  NodeStatus: "nodestatus",
  NodePatch: "nodepatch",
  Rule: "rule",
  RuleEndpoint: "ruleendpoint",
  RuleStatus: "rulestatus",
  Lease: "lease",
  Event: "event",
  CertificateSigningRequest: "certificatesigningrequest",
  /** Whole resource string of the edge's query for the cluster CA. */
  K8sCA: "k8s/ca.crt",
} as const;
export type ResourceType = (typeof ResourceType)[keyof typeof ResourceType];

/** Module names used as route.source / route.destination. */
export const Source = {
  EdgeController: "edgecontroller",
  DeviceController: "devicecontroller",
  CloudHub: "cloudhub",
  /** The edge's kubelet fork. */
  Edged: "edged",
  /** edgehub's module name on the edge. */
  EdgeHub: "websocket",
  MetaManager: "metamanager",
  TwinGroupModule: "twin",
} as const;

export const Group = {
  /** Cloud → edge objects and cloud replies. */
  Resource: "resource",
  /** Edge → cloud requests from edged through metamanager. */
  Meta: "meta",
  Twin: "twin",
  Func: "func",
  User: "user",
  Hub: "hub",
} as const;

/** Content of an edge's acknowledgement and of successful replies that carry no object. */
export const OK_CONTENT = "OK";

/** The content of the edge's keepalive message. */
export const KEEPALIVE_CONTENT = "ping";

/** Namespace placeholder for cluster-scoped objects in resource strings. */
export const CLUSTER_SCOPED_NAMESPACE = "null";

/** KubeEdge's default project id, sent by edges in the `project_id` header and URL path. */
export const DEFAULT_PROJECT_ID = "e632aba927ea4ac2b575ec1603d56f10";
