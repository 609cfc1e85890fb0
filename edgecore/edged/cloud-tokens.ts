import type { Logger } from "pino";
import { Group, Operation, Source } from "../../protocol/constants.js";
import { newMessage, type Message } from "../../protocol/message.js";
import type { Pod } from "./pod-spec.js";
import type { TokenSource } from "./volumes.js";

interface CachedToken {
  readonly token: string;
  /** When the kubelet would refresh it: at 80 % of its life, or after 24 h. */
  readonly refreshAt: number;
}

/** What token requests need of edgehub. */
export interface TokenChannel {
  request(message: Message, timeoutMs?: number): Promise<Message>;
  readonly status: { readonly type: string };
}

/**
 * Service-account tokens for projected volumes, asked of the cloud over the tunnel (`query
 * <ns>/serviceaccounttoken/<sa>` with a TokenRequest bound to the pod) and cached until 80 % of
 * their life, as the kubelet's token manager does. Offline, or when the cloud refuses, there is no
 * new token: the volume keeps the one it has.
 */
export class CloudTokens implements TokenSource {
  readonly #cache = new Map<string, CachedToken>();

  constructor(
    private readonly hub: TokenChannel,
    private readonly log: Logger,
  ) {}

  async token(
    pod: Pod,
    audience: string | undefined,
    expirationSeconds: number,
  ): Promise<string | undefined> {
    const serviceAccount = pod.spec.serviceAccountName ?? "default";
    const key = `${pod.metadata.uid}/${serviceAccount}/${audience ?? ""}/${expirationSeconds}`;
    const cached = this.#cache.get(key);
    if (cached && Date.now() < cached.refreshAt) return cached.token;
    if (this.hub.status.type !== "connected") return cached?.token;
    try {
      const reply = await this.hub.request(
        newMessage({
          source: Source.Edged,
          group: Group.Meta,
          operation: Operation.Query,
          resource: `${pod.metadata.namespace}/serviceaccounttoken/${serviceAccount}`,
          content: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenRequest",
            spec: {
              ...(audience !== undefined && { audiences: [audience] }),
              expirationSeconds,
              boundObjectRef: {
                apiVersion: "v1",
                kind: "Pod",
                name: pod.metadata.name,
                uid: pod.metadata.uid,
              },
            },
          },
        }),
        15_000,
      );
      const status = (reply.content as { status?: { token?: string; expirationTimestamp?: string } } | null)
        ?.status;
      if (reply.route.operation === Operation.Error || !status?.token) {
        this.log.warn(
          { pod: pod.metadata.name, reply: JSON.stringify(reply.content).slice(0, 200) },
          "token request refused",
        );
        return cached?.token;
      }
      const expires = status.expirationTimestamp
        ? Date.parse(status.expirationTimestamp)
        : Date.now() + expirationSeconds * 1000;
      const now = Date.now();
      const refreshAt = Math.min(now + 0.8 * (expires - now), now + 24 * 3600 * 1000);
      this.#cache.set(key, { token: status.token, refreshAt });
      return status.token;
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, "token request failed");
      return cached?.token;
    }
  }

  forget(uid: string): void {
    for (const key of this.#cache.keys()) if (key.startsWith(`${uid}/`)) this.#cache.delete(key);
  }
}
