import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeProjection, type FileProjection } from "./atomic-writer.js";
import { podFieldValue } from "./container-env.js";
import { ContainerConfigError, type ObjectSource } from "./object-source.js";
import type { Pod, Volume } from "./pod-spec.js";

const DEFAULT_MODE = 0o644;

/** Issues service-account tokens for projected volumes (the cloud's TokenRequest, over the tunnel). */
export interface TokenSource {
  /**
   * A token for the pod's service account, or undefined when none can be had now (offline): the
   * volume then keeps the token it already holds.
   */
  token(pod: Pod, audience: string | undefined, expirationSeconds: number): Promise<string | undefined>;
}

export interface VolumeContext {
  readonly pod: Pod;
  /** This pod's directory on the node (`<dataDir>/pods/<uid>`). */
  readonly podDir: string;
  readonly objects: ObjectSource;
  readonly tokens: TokenSource;
  readonly node: { readonly hostIP: string; readonly podIP: string };
}

type KeyToPath = { key: string; path: string; mode?: number | undefined };

function project(
  data: Record<string, Buffer>,
  items: readonly KeyToPath[] | undefined,
  mode: number,
  what: string,
  into: Map<string, FileProjection>,
  prefix = "",
): void {
  if (!items) {
    for (const [key, value] of Object.entries(data)) into.set(prefix + key, { data: value, mode });
    return;
  }
  for (const item of items) {
    const value = data[item.key];
    if (value === undefined)
      throw new ContainerConfigError(`configured key ${item.key} not found in ${what}`);
    into.set(prefix + item.path, { data: value, mode: item.mode ?? mode });
  }
}

/**
 * Materialises a pod's volumes on the node and returns each volume's host path: ConfigMap, Secret,
 * downward API and projected volumes are written atomically (writeProjection), emptyDir is a
 * directory that lives as long as the pod, hostPath is the host's own path. Called again on every
 * sync: changed ConfigMaps and Secrets reach running containers, as the kubelet does.
 */
export async function prepareVolumes(context: VolumeContext): Promise<Map<string, string>> {
  const { pod, podDir, objects } = context;
  const namespace = pod.metadata.namespace;
  const paths = new Map<string, string>();
  for (const volume of pod.spec.volumes ?? []) {
    const kind = volumeKind(volume);
    if (kind === "unsupported")
      throw new ContainerConfigError(
        `volume "${volume.name}": this volume type is not supported on edge nodes`,
      );
    const dir = join(podDir, "volumes", kind, volume.name);
    if (volume.hostPath) {
      if (volume.hostPath.type === "DirectoryOrCreate") mkdirSync(volume.hostPath.path, { recursive: true });
      else if (volume.hostPath.type === "Directory" && !existsSync(volume.hostPath.path))
        throw new ContainerConfigError(`hostPath ${volume.hostPath.path} does not exist`);
      paths.set(volume.name, volume.hostPath.path);
      continue;
    }
    if (volume.emptyDir) {
      mkdirSync(dir, { recursive: true });
      paths.set(volume.name, dir);
      continue;
    }
    const payload = new Map<string, FileProjection>();
    if (volume.configMap) {
      const data = objects.configMap(namespace, volume.configMap.name);
      if (data === undefined && !volume.configMap.optional)
        throw new ContainerConfigError(`configmap "${volume.configMap.name}" not found`);
      project(
        data ?? {},
        volume.configMap.items,
        volume.configMap.defaultMode ?? DEFAULT_MODE,
        `ConfigMap ${namespace}/${volume.configMap.name}`,
        payload,
      );
    } else if (volume.secret) {
      const data = objects.secret(namespace, volume.secret.secretName);
      if (data === undefined && !volume.secret.optional)
        throw new ContainerConfigError(`secret "${volume.secret.secretName}" not found`);
      project(
        data ?? {},
        volume.secret.items,
        volume.secret.defaultMode ?? DEFAULT_MODE,
        `Secret ${namespace}/${volume.secret.secretName}`,
        payload,
      );
    } else if (volume.downwardAPI) {
      for (const item of volume.downwardAPI.items) {
        if (item.fieldRef)
          payload.set(item.path, {
            data: Buffer.from(podFieldValue(pod, item.fieldRef.fieldPath, context.node)),
            mode: volume.downwardAPI.defaultMode ?? DEFAULT_MODE,
          });
      }
    } else if (volume.projected) {
      const mode = volume.projected.defaultMode ?? DEFAULT_MODE;
      for (const source of volume.projected.sources) {
        if (source.configMap) {
          const data = objects.configMap(namespace, source.configMap.name);
          if (data === undefined && !source.configMap.optional)
            throw new ContainerConfigError(`configmap "${source.configMap.name}" not found`);
          project(
            data ?? {},
            source.configMap.items,
            mode,
            `ConfigMap ${namespace}/${source.configMap.name}`,
            payload,
          );
        }
        if (source.secret) {
          const data = objects.secret(namespace, source.secret.name);
          if (data === undefined && !source.secret.optional)
            throw new ContainerConfigError(`secret "${source.secret.name}" not found`);
          project(
            data ?? {},
            source.secret.items,
            mode,
            `Secret ${namespace}/${source.secret.name}`,
            payload,
          );
        }
        for (const item of source.downwardAPI?.items ?? []) {
          if (item.fieldRef)
            payload.set(item.path, {
              data: Buffer.from(podFieldValue(pod, item.fieldRef.fieldPath, context.node)),
              mode,
            });
        }
        if (source.serviceAccountToken) {
          const { path, audience, expirationSeconds } = source.serviceAccountToken;
          const token = await context.tokens.token(pod, audience, expirationSeconds ?? 3607);
          const kept = join(dir, path);
          if (token !== undefined) payload.set(path, { data: Buffer.from(token), mode });
          else if (existsSync(kept)) payload.set(path, { data: readFileSync(kept), mode });
          else
            throw new ContainerConfigError(
              `no service account token for ${namespace}/${pod.spec.serviceAccountName ?? "default"} yet (the cloud is unreachable)`,
            );
        }
      }
    }
    writeProjection(dir, payload);
    paths.set(volume.name, dir);
  }
  return paths;
}

function volumeKind(volume: Volume): string {
  if (volume.configMap) return "configmap";
  if (volume.secret) return "secret";
  if (volume.downwardAPI) return "downward-api";
  if (volume.projected) return "projected";
  if (volume.emptyDir) return "empty-dir";
  if (volume.hostPath) return "host-path";
  return "unsupported";
}
