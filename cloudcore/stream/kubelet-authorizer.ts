import type { KubeRest } from "../kube/kube-rest.js";

/** Who called the stream server, from its client certificate (CN = user, O = groups). */
export interface StreamCaller {
  readonly user: string;
  readonly groups: readonly string[];
}

export interface AuthorizationDecision {
  readonly allowed: boolean;
  readonly reason: string;
}

interface SubjectAccessReviewStatus {
  readonly status?: { readonly allowed?: boolean; readonly denied?: boolean; readonly reason?: string };
}

/**
 * Decides, as the kubelet does (webhook authorization), whether a caller may use a node's
 * streaming API: a SubjectAccessReview for `nodes/proxy` on that node, with the verb from the HTTP
 * method (GET → get, POST → create). Answers are cached like the kubelet's (allowed 5 min, denied
 * 30 s), so the apiserver's many `kubectl logs` calls cost one review.
 */
export class KubeletAuthorizer {
  readonly #cache = new Map<string, { decision: AuthorizationDecision; expires: number }>();

  constructor(
    private readonly rest: KubeRest,
    private readonly options: {
      readonly allowedTtlMs?: number;
      readonly deniedTtlMs?: number;
      readonly now?: () => number;
    } = {},
  ) {}

  async authorize(caller: StreamCaller, method: string, node: string): Promise<AuthorizationDecision> {
    const verb = method.toUpperCase() === "POST" ? "create" : "get";
    const key = JSON.stringify([caller.user, [...caller.groups].sort(), verb, node]);
    const now = (this.options.now ?? Date.now)();
    const cached = this.#cache.get(key);
    if (cached && cached.expires > now) return cached.decision;
    const review = await this.rest.request<SubjectAccessReviewStatus>(
      "create",
      "/apis/authorization.k8s.io/v1/subjectaccessreviews",
      {
        body: {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: caller.user,
            groups: caller.groups,
            resourceAttributes: { verb, resource: "nodes", subresource: "proxy", name: node },
          },
        },
      },
    );
    const allowed = review.status?.allowed === true && review.status.denied !== true;
    const decision: AuthorizationDecision = {
      allowed,
      reason:
        review.status?.reason ||
        (allowed ? "allowed" : `${caller.user} may not ${verb} nodes/proxy of node ${node}`),
    };
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(key, {
      decision,
      expires:
        now + (allowed ? (this.options.allowedTtlMs ?? 300_000) : (this.options.deniedTtlMs ?? 30_000)),
    });
    return decision;
  }
}
