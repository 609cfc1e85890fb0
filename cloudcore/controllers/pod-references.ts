import type { ContainerJson, PodJson } from "../kube/objects.js";

/** Kinds of object a pod can reference that are sent to its node. */
export type ReferenceKind = "configmap" | "secret";

/** `<kind>/<namespace>/<name>`: one referenced object. */
export type ReferenceKey = `${ReferenceKind}/${string}/${string}`;

export const referenceKey = (kind: ReferenceKind, namespace: string, name: string): ReferenceKey =>
  `${kind}/${namespace}/${name}`;

export function parseReferenceKey(key: ReferenceKey): {
  kind: ReferenceKind;
  namespace: string;
  name: string;
} {
  const [kind, namespace, ...name] = key.split("/");
  return { kind: kind as ReferenceKind, namespace: namespace ?? "", name: name.join("/") };
}

/**
 * The ConfigMaps and Secrets a pod needs on its node: volumes (configMap, secret, projected
 * sources), env valueFrom and envFrom in every container (init and ephemeral too), and
 * imagePullSecrets. The same references KubeEdge's location cache follows, so a node receives
 * exactly what its pods use and nothing else.
 */
export function podReferences(pod: PodJson): Set<ReferenceKey> {
  const ns = pod.metadata?.namespace ?? "default";
  const out = new Set<ReferenceKey>();
  const add = (kind: ReferenceKind, name: string | undefined): void => {
    if (name) out.add(referenceKey(kind, ns, name));
  };
  const spec = pod.spec ?? {};
  for (const volume of spec.volumes ?? []) {
    add("configmap", volume.configMap?.name);
    add("secret", volume.secret?.secretName);
    for (const source of volume.projected?.sources ?? []) {
      add("configmap", source.configMap?.name);
      add("secret", source.secret?.name);
    }
  }
  const containers: ContainerJson[] = [
    ...(spec.initContainers ?? []),
    ...(spec.containers ?? []),
    ...(spec.ephemeralContainers ?? []),
  ];
  for (const container of containers) {
    for (const env of container.env ?? []) {
      add("configmap", env.valueFrom?.configMapKeyRef?.name);
      add("secret", env.valueFrom?.secretKeyRef?.name);
    }
    for (const from of container.envFrom ?? []) {
      add("configmap", from.configMapRef?.name);
      add("secret", from.secretRef?.name);
    }
  }
  for (const pull of spec.imagePullSecrets ?? []) add("secret", pull.name);
  return out;
}

/** True if the pod mounts a projected service account token (which the edge asks the cloud for). */
export function usesServiceAccountToken(pod: PodJson): boolean {
  return (pod.spec?.volumes ?? []).some((v) =>
    (v.projected?.sources ?? []).some((s) => s.serviceAccountToken !== undefined),
  );
}
