import { readFileSync } from "node:fs";
import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { pemToDer } from "../../protocol/pki.js";
import type { ControlPlanePki } from "./control-plane-pki.js";

function isConflict(err: unknown): boolean {
  return (err as { code?: number }).code === 409;
}

function derOf(pemFile: string): string {
  return Buffer.from(pemToDer(readFileSync(pemFile, "utf8"))).toString("base64");
}

/**
 * What an installer puts into a fresh cluster before edgefleet runs:
 * - the binding kubeadm makes for the apiserver's kubelet client group (`kubeadm:cluster-admins` →
 *   cluster-admin), so the kubelet-style authorization of cloudcore's stream server (a
 *   SubjectAccessReview for nodes/proxy) allows the apiserver, as a kubelet would;
 * - the cloud CA as KubeEdge's `kubeedge/casecret` (DER, base64), the one the apiserver's
 *   `--kubelet-certificate-authority` names.
 */
export async function bootstrapCluster(kubeconfig: string, pki: ControlPlanePki): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
  const ignoreConflict = (err: unknown): void => {
    if (!isConflict(err)) throw err;
  };
  await rbac
    .createClusterRoleBinding({
      body: {
        metadata: { name: "kubeadm:cluster-admins" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cluster-admin" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "kubeadm:cluster-admins" }],
      },
    })
    .catch(ignoreConflict);
  await core.createNamespace({ body: { metadata: { name: "kubeedge" } } }).catch(ignoreConflict);
  await core
    .createNamespacedSecret({
      namespace: "kubeedge",
      body: {
        metadata: { name: "casecret", labels: { "app.kubernetes.io/managed-by": "edgefleet-test-env" } },
        type: "Opaque",
        data: { cadata: derOf(pki.cloudCaCert), cakeydata: derOf(pki.cloudCaKey) },
      },
    })
    .catch(ignoreConflict);
}
