/**
 * TypeScript shapes of the CRI v1 messages in runtime-v1.proto, as @grpc/proto-loader hands them
 * over with the options in cri-client.ts:
 *
 * - field names are camelCase (`pod_sandbox_id` → `podSandboxId`);
 * - enums are their names (`"CONTAINER_EXITED"`);
 * - int64/uint64 in responses are decimal strings ({@link Int64}); in requests a number or a decimal
 *   string ({@link Int64Input});
 * - responses carry every field: scalars default to 0 / "" / false, repeated fields to [], maps to
 *   {}, and an unset message field is `null`.
 *
 * Requests (`…Input`, `…Config`, `…Filter`, `…Request`) make optional what the runtime defaults.
 */

/**
 * An int64 as received: a decimal string. CRI timestamps are nanoseconds since the epoch (~1.7e18),
 * beyond a double's exact range (2^53 ≈ 9e15); convert with {@link nanosToDate} or `BigInt()`.
 */
export type Int64 = string;
/** An int64 to send: a number (exact up to 2^53) or a decimal string. */
export type Int64Input = number | string;

/** A CRI timestamp (nanoseconds since the epoch) as a Date; undefined for 0, CRI's "never". */
export function nanosToDate(nanos: Int64): Date | undefined {
  const n = BigInt(nanos);
  return n === 0n ? undefined : new Date(Number(n / 1_000_000n));
}

// ---- enums

export type Protocol = "TCP" | "UDP" | "SCTP";
export type MountPropagation =
  "PROPAGATION_PRIVATE" | "PROPAGATION_HOST_TO_CONTAINER" | "PROPAGATION_BIDIRECTIONAL";
/** Whose namespace a pod or container joins: NODE is the host's, POD the sandbox's. */
export type NamespaceMode = "POD" | "CONTAINER" | "NODE" | "TARGET";
export type PodSandboxState = "SANDBOX_READY" | "SANDBOX_NOTREADY";
export type ContainerState =
  "CONTAINER_CREATED" | "CONTAINER_RUNNING" | "CONTAINER_EXITED" | "CONTAINER_UNKNOWN";
export type SecurityProfileType = "RuntimeDefault" | "Unconfined" | "Localhost";

// ---- shared request pieces

export interface KeyValue {
  readonly key: string;
  readonly value: string;
}

export interface ImageSpecInput {
  readonly image: string;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly userSpecifiedImage?: string;
}

export interface MountInput {
  readonly containerPath: string;
  readonly hostPath: string;
  readonly readonly?: boolean;
  readonly selinuxRelabel?: boolean;
  readonly propagation?: MountPropagation;
}

export interface NamespaceOptionInput {
  readonly network?: NamespaceMode;
  readonly pid?: NamespaceMode;
  readonly ipc?: NamespaceMode;
  readonly targetId?: string;
}

export interface Int64ValueInput {
  readonly value: Int64Input;
}

export interface SecurityProfileInput {
  readonly profileType?: SecurityProfileType;
  readonly localhostRef?: string;
}

export interface SELinuxOptionInput {
  readonly user?: string;
  readonly role?: string;
  readonly type?: string;
  readonly level?: string;
}

export interface LinuxContainerResourcesInput {
  readonly cpuPeriod?: Int64Input;
  readonly cpuQuota?: Int64Input;
  readonly cpuShares?: Int64Input;
  readonly memoryLimitInBytes?: Int64Input;
  readonly oomScoreAdj?: Int64Input;
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  readonly hugepageLimits?: readonly { readonly pageSize: string; readonly limit: Int64Input }[];
  /** cgroup v2 files, e.g. `{"memory.high": "…"}`. */
  readonly unified?: Readonly<Record<string, string>>;
  readonly memorySwapLimitInBytes?: Int64Input;
}

// ---- pod sandbox requests

export interface PodSandboxMetadataInput {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly attempt?: number;
}

export interface DnsConfig {
  readonly servers?: readonly string[];
  readonly searches?: readonly string[];
  readonly options?: readonly string[];
}

export interface PortMappingInput {
  readonly protocol?: Protocol;
  readonly containerPort: number;
  readonly hostPort?: number;
  readonly hostIp?: string;
}

export interface LinuxSandboxSecurityContextInput {
  readonly namespaceOptions?: NamespaceOptionInput;
  readonly selinuxOptions?: SELinuxOptionInput;
  readonly runAsUser?: Int64ValueInput;
  readonly runAsGroup?: Int64ValueInput;
  readonly readonlyRootfs?: boolean;
  readonly supplementalGroups?: readonly Int64Input[];
  readonly privileged?: boolean;
  readonly seccomp?: SecurityProfileInput;
  readonly apparmor?: SecurityProfileInput;
}

export interface LinuxPodSandboxConfig {
  readonly cgroupParent?: string;
  readonly securityContext?: LinuxSandboxSecurityContextInput;
  readonly sysctls?: Readonly<Record<string, string>>;
  readonly overhead?: LinuxContainerResourcesInput;
  readonly resources?: LinuxContainerResourcesInput;
}

export interface PodSandboxConfig {
  readonly metadata: PodSandboxMetadataInput;
  readonly hostname?: string;
  /** Host directory for the containers' logs; each ContainerConfig.logPath is relative to it. */
  readonly logDirectory?: string;
  readonly dnsConfig?: DnsConfig;
  readonly portMappings?: readonly PortMappingInput[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly linux?: LinuxPodSandboxConfig;
}

export interface RunPodSandboxRequest {
  readonly config: PodSandboxConfig;
  /** A runtime handler (RuntimeClass) configured in the runtime; "" for its default. */
  readonly runtimeHandler?: string;
}

export interface PodSandboxFilter {
  readonly id?: string;
  readonly state?: { readonly state: PodSandboxState };
  readonly labelSelector?: Readonly<Record<string, string>>;
}

// ---- container requests

export interface ContainerMetadataInput {
  readonly name: string;
  readonly attempt?: number;
}

export interface DeviceInput {
  readonly containerPath: string;
  readonly hostPath: string;
  /** cgroup permissions: some of "r", "w", "m". */
  readonly permissions: string;
}

export interface CapabilityInput {
  readonly addCapabilities?: readonly string[];
  readonly dropCapabilities?: readonly string[];
  readonly addAmbientCapabilities?: readonly string[];
}

export interface LinuxContainerSecurityContextInput {
  readonly capabilities?: CapabilityInput;
  readonly privileged?: boolean;
  readonly namespaceOptions?: NamespaceOptionInput;
  readonly selinuxOptions?: SELinuxOptionInput;
  readonly runAsUser?: Int64ValueInput;
  readonly runAsGroup?: Int64ValueInput;
  readonly runAsUsername?: string;
  readonly readonlyRootfs?: boolean;
  readonly supplementalGroups?: readonly Int64Input[];
  readonly noNewPrivs?: boolean;
  readonly maskedPaths?: readonly string[];
  readonly readonlyPaths?: readonly string[];
  readonly seccomp?: SecurityProfileInput;
  readonly apparmor?: SecurityProfileInput;
}

export interface LinuxContainerConfig {
  readonly resources?: LinuxContainerResourcesInput;
  readonly securityContext?: LinuxContainerSecurityContextInput;
}

export interface ContainerConfig {
  readonly metadata: ContainerMetadataInput;
  readonly image: ImageSpecInput;
  /** Replaces the image's entrypoint. */
  readonly command?: readonly string[];
  /** Replaces the image's cmd. */
  readonly args?: readonly string[];
  readonly workingDir?: string;
  readonly envs?: readonly KeyValue[];
  readonly mounts?: readonly MountInput[];
  readonly devices?: readonly DeviceInput[];
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Relative to the sandbox's logDirectory; no log file when either is empty. */
  readonly logPath?: string;
  readonly stdin?: boolean;
  readonly stdinOnce?: boolean;
  readonly tty?: boolean;
  readonly linux?: LinuxContainerConfig;
}

export interface CreateContainerRequest {
  readonly podSandboxId: string;
  readonly config: ContainerConfig;
  /** The config the sandbox was run with (runtimes read e.g. its logDirectory and namespaces). */
  readonly sandboxConfig: PodSandboxConfig;
}

export interface StopContainerRequest {
  readonly containerId: string;
  /** Seconds between the stop signal (SIGTERM unless the image says otherwise) and SIGKILL. */
  readonly timeout: Int64Input;
}

export interface ContainerFilter {
  readonly id?: string;
  readonly state?: { readonly state: ContainerState };
  readonly podSandboxId?: string;
  readonly labelSelector?: Readonly<Record<string, string>>;
}

export interface ExecSyncRequest {
  readonly containerId: string;
  readonly cmd: readonly string[];
  /** Seconds; 0 (or absent) waits for the command however long it takes. */
  readonly timeout?: Int64Input;
}

export interface ExecRequest {
  readonly containerId: string;
  readonly cmd: readonly string[];
  readonly tty?: boolean;
  readonly stdin?: boolean;
  readonly stdout?: boolean;
  readonly stderr?: boolean;
}

export interface AttachRequest {
  readonly containerId: string;
  readonly stdin?: boolean;
  readonly tty?: boolean;
  readonly stdout?: boolean;
  readonly stderr?: boolean;
}

export interface PortForwardRequest {
  readonly podSandboxId: string;
  readonly port?: readonly number[];
}

// ---- image requests

export interface ImageFilter {
  readonly image?: ImageSpecInput;
}

export interface AuthConfig {
  readonly username?: string;
  readonly password?: string;
  readonly auth?: string;
  readonly serverAddress?: string;
  readonly identityToken?: string;
  readonly registryToken?: string;
}

export interface PullImageRequest {
  readonly image: ImageSpecInput;
  readonly auth?: AuthConfig;
  readonly sandboxConfig?: PodSandboxConfig;
}

// ---- responses

export interface VersionResponse {
  /** The CRI version the runtime speaks, e.g. "0.1.0". */
  readonly version: string;
  readonly runtimeName: string;
  readonly runtimeVersion: string;
  /** e.g. "v1". */
  readonly runtimeApiVersion: string;
}

export interface PodSandboxMetadata {
  readonly name: string;
  readonly uid: string;
  readonly namespace: string;
  readonly attempt: number;
}

export interface NamespaceOption {
  readonly network: NamespaceMode;
  readonly pid: NamespaceMode;
  readonly ipc: NamespaceMode;
  readonly targetId: string;
}

export interface PodSandboxNetworkStatus {
  /** The pod's primary IP; "" for a sandbox in the host's network namespace. */
  readonly ip: string;
  readonly additionalIps: readonly { readonly ip: string }[];
}

export interface PodSandboxStatus {
  readonly id: string;
  readonly metadata: PodSandboxMetadata | null;
  readonly state: PodSandboxState;
  readonly createdAt: Int64;
  readonly network: PodSandboxNetworkStatus | null;
  readonly linux: { readonly namespaces: { readonly options: NamespaceOption | null } | null } | null;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly runtimeHandler: string;
}

export interface PodSandboxStatusResponse {
  readonly status: PodSandboxStatus;
  /** Runtime-specific details (containerd: a JSON document under "info"); only when verbose. */
  readonly info: Readonly<Record<string, string>>;
}

export interface PodSandbox {
  readonly id: string;
  readonly metadata: PodSandboxMetadata | null;
  readonly state: PodSandboxState;
  readonly createdAt: Int64;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly runtimeHandler: string;
}

export interface ContainerMetadata {
  readonly name: string;
  readonly attempt: number;
}

export interface ImageSpec {
  readonly image: string;
  readonly annotations: Readonly<Record<string, string>>;
  readonly userSpecifiedImage: string;
}

export interface Mount {
  readonly containerPath: string;
  readonly hostPath: string;
  readonly readonly: boolean;
  readonly selinuxRelabel: boolean;
  readonly propagation: MountPropagation;
}

export interface LinuxContainerResources {
  readonly cpuPeriod: Int64;
  readonly cpuQuota: Int64;
  readonly cpuShares: Int64;
  readonly memoryLimitInBytes: Int64;
  readonly oomScoreAdj: Int64;
  readonly cpusetCpus: string;
  readonly cpusetMems: string;
  readonly hugepageLimits: readonly { readonly pageSize: string; readonly limit: Int64 }[];
  readonly unified: Readonly<Record<string, string>>;
  readonly memorySwapLimitInBytes: Int64;
}

export interface Container {
  readonly id: string;
  readonly podSandboxId: string;
  readonly metadata: ContainerMetadata | null;
  readonly image: ImageSpec | null;
  readonly imageRef: string;
  readonly state: ContainerState;
  readonly createdAt: Int64;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly imageId: string;
}

export interface ContainerStatus {
  readonly id: string;
  readonly metadata: ContainerMetadata | null;
  readonly state: ContainerState;
  /** Nanoseconds since the epoch; "0" when it has not happened. */
  readonly createdAt: Int64;
  readonly startedAt: Int64;
  readonly finishedAt: Int64;
  /** Meaningful once the state is CONTAINER_EXITED. */
  readonly exitCode: number;
  readonly image: ImageSpec | null;
  readonly imageRef: string;
  /** e.g. "Completed", "Error", "OOMKilled"; "" while running. */
  readonly reason: string;
  readonly message: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly mounts: readonly Mount[];
  /** Absolute path of the log file on the host. */
  readonly logPath: string;
  readonly resources: { readonly linux: LinuxContainerResources | null } | null;
  readonly imageId: string;
}

export interface ContainerStatusResponse {
  readonly status: ContainerStatus;
  readonly info: Readonly<Record<string, string>>;
}

export interface ExecSyncResponse {
  readonly stdout: Buffer;
  readonly stderr: Buffer;
  readonly exitCode: number;
}

export interface Image {
  readonly id: string;
  readonly repoTags: readonly string[];
  readonly repoDigests: readonly string[];
  readonly size: Int64;
  readonly uid: { readonly value: Int64 } | null;
  readonly username: string;
  readonly spec: ImageSpec | null;
  readonly pinned: boolean;
}

export interface ImageStatusResponse {
  /** null when the runtime does not have the image: that is not an error in CRI. */
  readonly image: Image | null;
  readonly info: Readonly<Record<string, string>>;
}
