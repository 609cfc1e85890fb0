import { randomBytes } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { decodeProtectedHeader, importPKCS8, importX509, jwtVerify, SignJWT } from "jose";
import { ProtocolError } from "./errors.js";
import { nodeNameOf, type CertificateAuthority } from "./pki.js";

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

/** The edge side: a fresh assertion for one connection attempt. */
export async function createTunnelAssertion(options: {
  readonly nodeName: string;
  readonly certPem: string;
  readonly keyPem: string;
  readonly now?: number;
}): Promise<string> {
  const key = await importPKCS8(options.keyPem, "ES256");
  const certB64 = Buffer.from(new x509.X509Certificate(options.certPem).rawData).toString("base64");
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

/** The cloud side: the node name the assertion proves, or TunnelAuthError with the reason. */
export async function verifyTunnelAssertion(
  jwt: string,
  options: { readonly ca: CertificateAuthority; readonly replay: ReplayCache; readonly now?: number },
): Promise<string> {
  const now = options.now ?? Date.now();
  let certDer: Buffer;
  try {
    const header = decodeProtectedHeader(jwt);
    const first = header.x5c?.[0];
    if (header.alg !== "ES256" || typeof first !== "string") throw new Error("no ES256 x5c header");
    certDer = Buffer.from(first, "base64");
  } catch (err) {
    throw new TunnelAuthError("tunnel credential is not an ES256 JWT with an x5c certificate", {
      cause: err,
    });
  }
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(certDer);
  } catch (err) {
    throw new TunnelAuthError("the x5c certificate does not parse", { cause: err });
  }
  if (!(await options.ca.issued(cert, new Date(now)))) {
    throw new TunnelAuthError(
      `certificate ${cert.subject} was not issued by the cloud CA or is not valid now`,
    );
  }
  const nodeName = nodeNameOf(cert);
  if (nodeName === undefined)
    throw new TunnelAuthError(`certificate ${cert.subject} is not a node certificate`);
  let payload: { sub?: string; jti?: string; exp?: number };
  try {
    const key = await importX509(cert.toString("pem"), "ES256");
    ({ payload } = await jwtVerify(jwt, key, {
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
