import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { statusCodeOf, type KubeRest } from "../kube/kube-rest.js";
import type { KubeObject } from "../kube/objects.js";
import { retryOn } from "../kube/retry.js";
import { CrdNotReadyError } from "../errors.js";

const CRD_PATH = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const MANAGED_BY = "edgefleet-cloudcore";

interface Crd extends KubeObject {
  status?: { conditions?: { type: string; status: string }[] };
}

export interface EnsureCrdsOptions {
  /** Install missing CRDs and refresh cloudcore's own (true), or only wait for them (false). */
  readonly manage: boolean;
  /** How long to wait for every CRD to be Established (default 10 s managed, 60 s otherwise). */
  readonly timeoutMs?: number;
}

/**
 * Installs CRDs that are missing and refreshes those cloudcore installed before (their schema may
 * have changed, e.g. the protocol list; Helm never upgrades a chart's CRDs, so this is also how a
 * chart upgrade reaches them). A CRD someone else installed (KubeEdge's own) is left as it is.
 * With `manage: false` nothing is written: the CRDs must come from the installer. Resolves when
 * every CRD is Established; throws CrdNotReadyError naming the first one that is not.
 */
export async function ensureCrds(
  rest: KubeRest,
  crds: readonly KubeObject[],
  log: Logger,
  options: EnsureCrdsOptions = { manage: true },
): Promise<void> {
  if (options.manage) {
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
  }
  const timeoutMs = options.timeoutMs ?? (options.manage ? 10_000 : 60_000);
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    const name = crd.metadata?.name ?? "";
    for (let logged = false; ;) {
      const current = await rest.get<Crd>(`${CRD_PATH}/${name}`).catch((err: unknown) => {
        if (statusCodeOf(err) === 404) return undefined;
        throw err;
      });
      if (current?.status?.conditions?.some((c) => c.type === "Established" && c.status === "True")) break;
      if (Date.now() >= deadline) {
        throw new CrdNotReadyError(
          current
            ? `CRD ${name} not Established after ${timeoutMs / 1000} s`
            : `CRD ${name} is not installed: install the chart's CRDs (charts/cloudcore/crds) or let cloudcore manage them (--manage-crds)`,
        );
      }
      if (!current && !logged) {
        log.info({ crd: name }, "waiting for the CRD to be installed");
        logged = true;
      }
      await sleep(current ? 100 : 1000);
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
