import type { Container, Pod } from "./pod-spec.js";
import { ContainerConfigError, type ObjectSource } from "./object-source.js";
import { parseQuantity } from "./quantity.js";

/** Values of the downward API's fieldRef paths the kubelet supports. */
export function podFieldValue(
  pod: Pod,
  fieldPath: string,
  node: { readonly hostIP: string; readonly podIP: string },
): string {
  const meta = pod.metadata;
  const annotated = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (annotated) {
    const map = annotated[1] === "labels" ? meta.labels : meta.annotations;
    return map?.[annotated[2] ?? ""] ?? "";
  }
  switch (fieldPath) {
    case "metadata.name":
      return meta.name;
    case "metadata.namespace":
      return meta.namespace;
    case "metadata.uid":
      return meta.uid;
    case "metadata.labels":
      return Object.entries(meta.labels ?? {})
        .map(([k, v]) => `${k}="${v}"`)
        .join("\n");
    case "metadata.annotations":
      return Object.entries(meta.annotations ?? {})
        .map(([k, v]) => `${k}="${v}"`)
        .join("\n");
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "default";
    case "status.hostIP":
    case "status.hostIPs":
      return node.hostIP;
    case "status.podIP":
    case "status.podIPs":
      return node.podIP;
    default:
      throw new ContainerConfigError(`unsupported fieldRef fieldPath "${fieldPath}"`);
  }
}

function resourceFieldValue(
  container: Container,
  resource: string,
  divisor: string | number | undefined,
): string {
  const [kind, name] = resource.split(".") as ["limits" | "requests", string];
  const raw = container.resources?.[kind]?.[name];
  if (raw === undefined) return "0";
  const value = parseQuantity(raw) / parseQuantity(divisor ?? (name === "cpu" ? "1" : "1"));
  return String(Math.ceil(value));
}

/**
 * A container's environment as the kubelet builds it: envFrom first (ConfigMaps and Secrets, with
 * prefix), then env in order, later names overriding earlier ones, `$(VAR)` references expanded
 * against what came before. A missing non-optional reference is a ContainerConfigError.
 */
export function containerEnv(
  pod: Pod,
  container: Container,
  source: ObjectSource,
  node: { readonly hostIP: string; readonly podIP: string },
): Map<string, string> {
  const namespace = pod.metadata.namespace;
  const env = new Map<string, string>();
  const lookup = (
    kind: "configMap" | "secret",
    name: string | undefined,
    optional: boolean | undefined,
  ): Record<string, Buffer> | undefined => {
    const data = name === undefined ? undefined : source[kind](namespace, name);
    if (data === undefined && !optional)
      throw new ContainerConfigError(
        `${kind === "configMap" ? "configmap" : "secret"} "${name ?? ""}" not found`,
      );
    return data;
  };
  for (const from of container.envFrom ?? []) {
    const ref = from.configMapRef ?? from.secretRef;
    const data = lookup(from.configMapRef ? "configMap" : "secret", ref?.name, ref?.optional);
    for (const [key, value] of Object.entries(data ?? {}))
      env.set(`${from.prefix ?? ""}${key}`, value.toString("utf8"));
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      env.set(variable.name, expand(variable.value ?? "", env));
      continue;
    }
    const keyRef = from.configMapKeyRef ?? from.secretKeyRef;
    if (keyRef) {
      const kind = from.configMapKeyRef ? "configMap" : "secret";
      const data = lookup(kind, keyRef.name, keyRef.optional);
      const value = data?.[keyRef.key];
      if (value === undefined) {
        if (keyRef.optional) continue;
        const what = kind === "configMap" ? "ConfigMap" : "Secret";
        throw new ContainerConfigError(
          `couldn't find key ${keyRef.key} in ${what} ${namespace}/${keyRef.name ?? ""}`,
        );
      }
      env.set(variable.name, value.toString("utf8"));
    } else if (from.fieldRef) {
      env.set(variable.name, podFieldValue(pod, from.fieldRef.fieldPath, node));
    } else if (from.resourceFieldRef) {
      const target =
        pod.spec.containers.find(
          (c) => c.name === (from.resourceFieldRef?.containerName ?? container.name),
        ) ?? container;
      env.set(
        variable.name,
        resourceFieldValue(target, from.resourceFieldRef.resource, from.resourceFieldRef.divisor),
      );
    }
  }
  return env;
}

/** Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` escapes, unknown ones stay. */
export function expand(text: string, env: ReadonlyMap<string, string>): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (match, name: string | undefined) => {
    if (match === "$$") return "$";
    return name !== undefined && env.has(name) ? (env.get(name) ?? "") : match;
  });
}
