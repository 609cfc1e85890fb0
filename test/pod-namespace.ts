import type { KubeRest } from "../cloudcore/kube/kube-rest.js";
import { untilValue } from "./until.js";

/**
 * Creates a namespace and waits until pods can be created in it: the apiserver admits pods only
 * once the controller-manager has made the namespace's default service account.
 */
export async function createPodNamespace(rest: KubeRest, name: string, timeoutMs = 30_000): Promise<void> {
  await rest.request("create", "/api/v1/namespaces", { body: { metadata: { name } } });
  await untilValue("default service account", timeoutMs, async () =>
    rest.get(`/api/v1/namespaces/${name}/serviceaccounts/default`).then(
      () => true,
      () => undefined,
    ),
  );
}
