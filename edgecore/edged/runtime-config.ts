import { join } from "node:path";
import type { ContainerConfig, KeyValue, MountInput, PodSandboxConfig } from "./cri/types.js";
import type { Container, Pod } from "./pod-spec.js";
import { linuxResources } from "./quantity.js";
import { ContainerConfigError } from "./object-source.js";

/** Labels edged puts on what it creates (the kubelet's, plus the node: several edgecores may share one containerd). */
export const Labels = {
  podUid: "io.kubernetes.pod.uid",
  podName: "io.kubernetes.pod.name",
  podNamespace: "io.kubernetes.pod.namespace",
  containerName: "io.kubernetes.container.name",
  node: "edgefleet.io/node",
} as const;

/** Marks the containers edged created for init containers (seen in `crictl inspect`). */
export const INIT_CONTAINER_ANNOTATION = "edgefleet.io/init-container";

/** `/var/log/pods/<ns>_<name>_<uid>`, under the node's log root. */
export function podLogDirectory(logRoot: string, pod: Pod): string {
  return join(logRoot, `${pod.metadata.namespace}_${pod.metadata.name}_${pod.metadata.uid}`);
}

/** The sandbox for a pod: its metadata, hostname, log directory, ports, and host or pod network. */
export function sandboxConfig(
  pod: Pod,
  options: {
    readonly node: string;
    readonly logRoot: string;
    readonly attempt: number;
    readonly hostNetwork: boolean;
  },
): PodSandboxConfig {
  const ports = pod.spec.containers.flatMap((c) =>
    (c.ports ?? [])
      .filter((p) => (p.hostPort ?? 0) > 0)
      .map((p) => ({
        containerPort: p.containerPort,
        hostPort: p.hostPort ?? 0,
        protocol: p.protocol ?? "TCP",
      })),
  );
  const hostname = options.hostNetwork ? undefined : (pod.spec.hostname ?? pod.metadata.name).slice(0, 63);
  return {
    metadata: {
      name: pod.metadata.name,
      namespace: pod.metadata.namespace,
      uid: pod.metadata.uid,
      attempt: options.attempt,
    },
    ...(hostname !== undefined && { hostname }),
    logDirectory: podLogDirectory(options.logRoot, pod),
    ...(ports.length > 0 && { portMappings: ports }),
    labels: {
      ...pod.metadata.labels,
      [Labels.podUid]: pod.metadata.uid,
      [Labels.podName]: pod.metadata.name,
      [Labels.podNamespace]: pod.metadata.namespace,
      [Labels.node]: options.node,
    },
    annotations: { ...pod.metadata.annotations },
    linux: {
      securityContext: {
        namespaceOptions: { network: options.hostNetwork ? "NODE" : "POD", pid: "CONTAINER", ipc: "POD" },
      },
    },
  };
}

/**
 * One container's CRI config: image, command and args (`$(VAR)` expanded), environment, volume
 * mounts (subPath resolved under the volume), log path `<name>/<attempt>.log`, resources and
 * security context.
 */
export function containerConfig(
  pod: Pod,
  container: Container,
  options: {
    readonly node: string;
    readonly attempt: number;
    readonly env: ReadonlyMap<string, string>;
    readonly volumes: ReadonlyMap<string, string>;
    readonly init: boolean;
    readonly hostNetwork: boolean;
    readonly expand: (text: string) => string;
  },
): ContainerConfig {
  const mounts: MountInput[] = (container.volumeMounts ?? []).map((mount) => {
    const hostPath = options.volumes.get(mount.name);
    if (hostPath === undefined)
      throw new ContainerConfigError(
        `volumeMount "${mount.name}" of container ${container.name} names no volume of the pod`,
      );
    if (
      mount.subPath !== undefined &&
      (mount.subPath.startsWith("/") || mount.subPath.split("/").includes(".."))
    )
      throw new ContainerConfigError(
        `volumeMount "${mount.name}": subPath "${mount.subPath}" must be relative without ".."`,
      );
    return {
      containerPath: mount.mountPath,
      hostPath: mount.subPath ? join(hostPath, mount.subPath) : hostPath,
      readonly: mount.readOnly ?? false,
    };
  });
  const envs: KeyValue[] = [...options.env].map(([key, value]) => ({ key, value }));
  const resources = linuxResources(container.resources, `containers[${container.name}].resources`);
  const security = container.securityContext;
  return {
    metadata: { name: container.name, attempt: options.attempt },
    image: { image: container.image },
    ...(container.command && { command: container.command.map(options.expand) }),
    ...(container.args && { args: container.args.map(options.expand) }),
    ...(container.workingDir && { workingDir: container.workingDir }),
    envs,
    mounts,
    labels: {
      [Labels.podUid]: pod.metadata.uid,
      [Labels.podName]: pod.metadata.name,
      [Labels.podNamespace]: pod.metadata.namespace,
      [Labels.containerName]: container.name,
      [Labels.node]: options.node,
    },
    annotations: options.init ? { [INIT_CONTAINER_ANNOTATION]: "true" } : {},
    logPath: join(container.name, `${options.attempt}.log`),
    stdin: container.stdin ?? false,
    stdinOnce: container.stdinOnce ?? false,
    tty: container.tty ?? false,
    linux: {
      resources: {
        cpuPeriod: resources.cpuPeriod,
        cpuQuota: resources.cpuQuota,
        cpuShares: resources.cpuShares,
        memoryLimitInBytes: resources.memoryLimitInBytes,
      },
      securityContext: {
        privileged: security?.privileged ?? false,
        ...(security?.runAsUser !== undefined && { runAsUser: { value: security.runAsUser } }),
        ...(security?.runAsGroup !== undefined && { runAsGroup: { value: security.runAsGroup } }),
        readonlyRootfs: security?.readOnlyRootFilesystem ?? false,
        // Must match the sandbox's: containerd joins the sandbox's network namespace only for POD.
        namespaceOptions: { network: options.hostNetwork ? "NODE" : "POD", pid: "CONTAINER", ipc: "POD" },
      },
    },
  };
}
