import { randomBytes } from "node:crypto";
import type { CoreV1Api, V1Secret } from "@kubernetes/client-node";
import { errors as joseErrors, jwtVerify, SignJWT } from "jose";
import type { CertificateAuthority } from "../../protocol/pki.js";
import { apiStatus, ApiserverError, JoinTokenError } from "../errors.js";
import { DEFAULT_CLOUD_NAMESPACE, ensureNamespace } from "./ca-store.js";

export const TOKEN_SECRET_PREFIX = "edgefleet-join-token-";
export const TOKEN_LABEL = "edgefleet.io/join-token";
const ID_PATTERN = /^[a-z0-9]{16}$/;

export interface JoinTokenRecord {
  readonly id: string;
  readonly expiresAt: Date;
  readonly description: string;
}

export interface CreatedJoinToken extends JoinTokenRecord {
  /** What an edge is given: `<hex sha256 of the CA DER>.<JWT>`, KubeEdge's token format. */
  readonly token: string;
}

export interface JoinTokensOptions {
  readonly namespace?: string;
  /** How long a verified token record is trusted before the Secret is read again. */
  readonly cacheTtlMs?: number;
  readonly now?: () => number;
}

/**
 * Join tokens, KubeEdge-compatible on the wire (`<ca hash>.<HS256 JWT>`, the JWT's HMAC key being
 * the CA private key DER, as KubeEdge's), but unlike KubeEdge's each token is also a record: a
 * Secret `edgefleet-join-token-<id>` in the cloud namespace holding its expiry. A token verifies only
 * if its signature is good, it has not expired, and its record still exists — so tokens can be
 * listed and revoked, and a client cannot extend its own token.
 */
export class JoinTokens {
  readonly #namespace: string;
  readonly #cacheTtlMs: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { record: JoinTokenRecord; until: number }>();
  #hmacKey: Uint8Array | undefined;

  constructor(
    private readonly core: CoreV1Api,
    private readonly ca: CertificateAuthority,
    options: JoinTokensOptions = {},
  ) {
    this.#namespace = options.namespace ?? DEFAULT_CLOUD_NAMESPACE;
    this.#cacheTtlMs = options.cacheTtlMs ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async create(options: { ttlSeconds: number; description?: string }): Promise<CreatedJoinToken> {
    if (!Number.isInteger(options.ttlSeconds) || options.ttlSeconds <= 0) {
      throw new JoinTokenError(`ttl must be a positive whole number of seconds, got ${options.ttlSeconds}`);
    }
    const id = randomBytes(10).toString("hex").slice(0, 16);
    const expiresAt = new Date(this.#now() + options.ttlSeconds * 1000);
    const description = options.description ?? "";
    await ensureNamespace(this.core, this.#namespace);
    try {
      await this.core.createNamespacedSecret({
        namespace: this.#namespace,
        body: {
          metadata: { name: TOKEN_SECRET_PREFIX + id, labels: { [TOKEN_LABEL]: "true" } },
          type: "Opaque",
          stringData: { expiration: expiresAt.toISOString(), description },
        },
      });
    } catch (err) {
      throw new ApiserverError(`create join token record: ${(err as Error).message}`, { cause: err });
    }
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setJti(id)
      .setIssuedAt(Math.floor(this.#now() / 1000))
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(await this.#key());
    return { id, expiresAt, description, token: `${await this.ca.fingerprint()}.${jwt}` };
  }

  /** Verifies the JWT part of a token (what an edge sends as `Authorization: Bearer`). */
  async verify(jwt: string): Promise<JoinTokenRecord> {
    let id: string;
    try {
      const { payload } = await jwtVerify(jwt, await this.#key(), {
        algorithms: ["HS256"],
        currentDate: new Date(this.#now()),
      });
      if (typeof payload.jti !== "string" || !ID_PATTERN.test(payload.jti)) {
        throw new JoinTokenError(
          "token has no edgefleet token id (was it created by `cloudcore token create`?)",
        );
      }
      id = payload.jti;
    } catch (err) {
      if (err instanceof JoinTokenError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new JoinTokenError("token expired", { cause: err });
      throw new JoinTokenError("token signature or format is invalid", { cause: err });
    }
    const record = await this.#record(id);
    if (record === undefined) throw new JoinTokenError(`token ${id} was revoked or never existed`);
    if (record.expiresAt.getTime() <= this.#now())
      throw new JoinTokenError(`token ${id} expired at ${record.expiresAt.toISOString()}`);
    return record;
  }

  async list(): Promise<JoinTokenRecord[]> {
    const secrets = await this.core.listNamespacedSecret({
      namespace: this.#namespace,
      labelSelector: `${TOKEN_LABEL}=true`,
    });
    return secrets.items.map(recordOf).filter((r): r is JoinTokenRecord => r !== undefined);
  }

  async revoke(id: string): Promise<void> {
    this.#cache.delete(id);
    try {
      await this.core.deleteNamespacedSecret({ namespace: this.#namespace, name: TOKEN_SECRET_PREFIX + id });
    } catch (err) {
      if (apiStatus(err) === 404) throw new JoinTokenError(`no join token ${id}`);
      throw new ApiserverError(`revoke join token ${id}: ${(err as Error).message}`, { cause: err });
    }
  }

  async #record(id: string): Promise<JoinTokenRecord | undefined> {
    const cached = this.#cache.get(id);
    if (cached && cached.until > this.#now()) return cached.record;
    let secret: V1Secret;
    try {
      secret = await this.core.readNamespacedSecret({
        namespace: this.#namespace,
        name: TOKEN_SECRET_PREFIX + id,
      });
    } catch (err) {
      if (apiStatus(err) === 404) return undefined;
      throw new ApiserverError(`read join token ${id}: ${(err as Error).message}`, { cause: err });
    }
    const record = recordOf(secret);
    if (record) this.#cache.set(id, { record, until: this.#now() + this.#cacheTtlMs });
    return record;
  }

  async #key(): Promise<Uint8Array> {
    this.#hmacKey ??= new Uint8Array(await this.ca.keyDer());
    return this.#hmacKey;
  }
}

function recordOf(secret: V1Secret): JoinTokenRecord | undefined {
  const name = secret.metadata?.name ?? "";
  const id = name.startsWith(TOKEN_SECRET_PREFIX) ? name.slice(TOKEN_SECRET_PREFIX.length) : "";
  const expiration = secret.data?.["expiration"];
  if (!ID_PATTERN.test(id) || !expiration) return undefined;
  const expiresAt = new Date(Buffer.from(expiration, "base64").toString("utf8"));
  if (Number.isNaN(expiresAt.getTime())) return undefined;
  const description = Buffer.from(secret.data?.["description"] ?? "", "base64").toString("utf8");
  return { id, expiresAt, description };
}
