import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { statusCodeOf, type KubeRest } from "../kube/kube-rest.js";
import type { KubeObject } from "../kube/objects.js";
import { retryOn } from "../kube/retry.js";

const CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const MANAGED_BY = "edgefleet-cloudcore";

interface Crd extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

/**
 * Installs CRDs that are missing and refreshes those cloudcore installed before (their schema may
 * have changed, e.g. the protocol list). A CRD someone else installed (KubeEdge's own) is left as it
 * is. Resolves when every CRD is Established.
 */
export async function ensureCrds(rest: KubeRest, crds: readonly KubeObject[], log: Logger): Promise<void> {
  for (const crd of crds) {
    const name = crd.metadata?.name ?? "";
    try {
      await rest.request("create", CRD_PATH, { body: crd });
      log.info({ crd: name }, "CRD installed");
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
      await updateOwn(rest, crd, name, log);
    }
  }
  for (const crd of crds) {
    const name = crd.metadata?.name ?? "";
    for (let attempt = 0; ; attempt++) {
      const current = await rest.get<Crd>(`${CRD_PATH}/${name}`);
      if (current.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (attempt > 100) throw new Error(`CRD ${name} not Established after 10 s`);
      await sleep(100);
    }
  }
}

/** Refreshes a CRD cloudcore installed; retried on conflict (replicas starting together). */
async function updateOwn(rest: KubeRest, crd: KubeObject, name: string, log: Logger): Promise<void> {
  await retryOn(async () => {
    const current = await rest.get(`${CRD_PATH}/${name}`);
    if (current.metadata?.labels?.["app.kubernetes.io/managed-by"] !== MANAGED_BY) {
      log.info({ crd: name }, "CRD installed by someone else: left unchanged");
      return;
    }
    await rest.request("update", `${CRD_PATH}/${name}`, {
      body: { ...crd, metadata: { ...crd.metadata, resourceVersion: current.metadata.resourceVersion } },
    });
  });
}
