import {
  createHash,
  createPrivateKey,
  randomBytes,
  X509Certificate as NativeX509Certificate,
  type KeyObject,
} from "node:crypto";
import { decodeProtectedHeader, jwtVerify, SignJWT } from "jose";
import { ProtocolError } from "./errors.js";
import { nodeNameOfSubject, type CertificateAuthority } from "./pki.js";

/**
 * Proof of a node's identity on the uWebSockets.js tunnel listener.
 *
 * Why: the uWS.js builds we can install verify a client certificate against the CA when one is
 * presented, but neither require one nor expose it to JavaScript, so the TLS layer cannot tell
 * cloudhub who connected. The edge therefore also sends, in `Authorization: Bearer`, a short-lived
 * ES256 JWT signed with its node key, carrying its certificate in the `x5c` header (a client
 * assertion, as in RFC 7523). The cloud checks the certificate chains to its CA, names a node
 * (O=system:nodes, CN=system:node:<name>), matches `sub`, and that the signature is by that
 * certificate's key; a `jti` seen before is refused, so a captured header cannot be replayed.
 */
export const TUNNEL_AUDIENCE = "edgefleet:cloudhub";
const LIFETIME_SECONDS = 60;
const CLOCK_TOLERANCE_SECONDS = 30;

export class TunnelAuthError extends ProtocolError {
  override readonly name = "TunnelAuthError";
  override readonly code = "EF_ERR_TUNNEL_AUTH";
}

/** The base64 DER inside a PEM certificate (the first one). */
function pemBody(pem: string): string {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (!match?.[1]) throw new TunnelAuthError("the node certificate is not PEM");
  return match[1].replace(/\s+/g, "");
}

/** The edge side: a fresh assertion for one connection attempt. */
export async function createTunnelAssertion(options: {
  readonly nodeName: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly now?: number;
}): Promise<string> {
  // Native key import and PEM unwrapping: a simulator builds thousands of these per second.
  const key = createPrivateKey(options.keyPem);
  const certB64 = pemBody(options.certPem);
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: "ES256", typ: "JWT", x5c: [certB64] })
    .setSubject(options.nodeName)
    .setAudience(TUNNEL_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(iat + LIFETIME_SECONDS)
    .setJti(randomBytes(16).toString("base64url"))
    .sign(key);
}

/** Remembers assertion ids until they expire, so each is accepted once per replica. */
export class ReplayCache {
  readonly #seen = new Map<string, number>();
  #nextSweep = 0;

  /** False if `jti` was seen before; records it otherwise. */
  remember(jti: string, expiresAtMs: number, nowMs: number): boolean {
    if (nowMs >= this.#nextSweep) {
      for (const [id, until] of this.#seen) if (until < nowMs) this.#seen.delete(id);
      this.#nextSweep = nowMs + 10_000;
    }
    if (this.#seen.has(jti)) return false;
    this.#seen.set(jti, expiresAtMs);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }
}

interface VerifiedCertificate {
  readonly nodeName: string;
  readonly key: KeyObject;
  readonly notBefore: number;
  readonly notAfter: number;
}

/**
 * Node certificates that already chained to the CA, by the SHA-256 of their base64 DER (`x5c`):
 * a node that reconnects (failover, rebalancing, a flapping network) is checked with its cached key
 * and validity window instead of parsing and verifying its certificate again. Bounded: the oldest
 * entries go first.
 */
export class VerifiedCertificates {
  readonly #entries = new Map<string, VerifiedCertificate>();

  constructor(private readonly max = 200_000) {}

  get(der: string): VerifiedCertificate | undefined {
    return this.#entries.get(der);
  }

  set(der: string, entry: VerifiedCertificate): void {
    if (this.#entries.size >= this.max) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(der, entry);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** Checks a certificate against the CA natively (OpenSSL through node:crypto). */
function verifyCertificate(der: string, ca: CertificateAuthority): VerifiedCertificate {
  let cert: NativeX509Certificate;
  try {
    cert = new NativeX509Certificate(Buffer.from(der, "base64"));
  } catch (err) {
    throw new TunnelAuthError("the x5c certificate does not parse", { cause: err });
  }
  const subject = cert.subject.replace(/\n/g, ", ");
  const native = ca.native;
  if (!cert.checkIssued(native.certificate) || !cert.verify(native.publicKey))
    throw new TunnelAuthError(`certificate ${subject} was not issued by the cloud CA or is not valid now`);
  const nodeName = nodeNameOfSubject(cert.subject);
  if (nodeName === undefined) throw new TunnelAuthError(`certificate ${subject} is not a node certificate`);
  return {
    nodeName,
    key: cert.publicKey,
    notBefore: Date.parse(cert.validFrom),
    notAfter: Date.parse(cert.validTo),
  };
}

/** The cloud side: the node name the assertion proves, or TunnelAuthError with the reason. */
export async function verifyTunnelAssertion(
  jwt: string,
  options: {
    readonly ca: CertificateAuthority;
    readonly replay: ReplayCache;
    /** Certificates verified before (reconnects skip the X.509 work). */
    readonly certificates?: VerifiedCertificates;
    readonly now?: number;
  },
): Promise<string> {
  const now = options.now ?? Date.now();
  let certB64: string;
  try {
    const header = decodeProtectedHeader(jwt);
    const first = header.x5c?.[0];
    if (header.alg !== "ES256" || typeof first !== "string") throw new Error("no ES256 x5c header");
    certB64 = first;
  } catch (err) {
    throw new TunnelAuthError("tunnel credential is not an ES256 JWT with an x5c certificate", {
      cause: err,
    });
  }
  // Keyed by a digest, not the ~700-character certificate itself: the cache holds one per node.
  const certKey = options.certificates && createHash("sha256").update(certB64).digest("base64");
  const cached = certKey === undefined ? undefined : options.certificates?.get(certKey);
  const verified = cached ?? verifyCertificate(certB64, options.ca);
  if (now < verified.notBefore || now > verified.notAfter)
    throw new TunnelAuthError(
      `certificate of node ${verified.nodeName} was not issued by the cloud CA or is not valid now`,
    );
  if (!cached && certKey !== undefined) options.certificates?.set(certKey, verified);
  const { nodeName } = verified;
  let payload: { sub?: string; jti?: string; exp?: number };
  try {
    ({ payload } = await jwtVerify(jwt, verified.key, {
      audience: TUNNEL_AUDIENCE,
      algorithms: ["ES256"],
      currentDate: new Date(now),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
      maxTokenAge: LIFETIME_SECONDS + CLOCK_TOLERANCE_SECONDS,
      requiredClaims: ["sub", "jti", "exp", "iat"],
    }));
  } catch (err) {
    throw new TunnelAuthError(
      `tunnel credential of node ${nodeName} does not verify: ${(err as Error).message}`,
      { cause: err },
    );
  }
  if (payload.sub !== nodeName) {
    throw new TunnelAuthError(
      `tunnel credential claims node ${payload.sub ?? "(none)"} but its certificate is for ${nodeName}`,
    );
  }
  if (
    !options.replay.remember(
      payload.jti ?? "",
      (payload.exp ?? 0) * 1000 + CLOCK_TOLERANCE_SECONDS * 1000,
      now,
    )
  ) {
    throw new TunnelAuthError(`tunnel credential of node ${nodeName} was already used`);
  }
  return nodeName;
}
