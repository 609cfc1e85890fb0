import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";
import { createNodeCsr, generateKeyPair, privateKeyPem } from "../../protocol/pki.js";
import { JoinError } from "../errors.js";
import { parseHostPort } from "../../protocol/names.js";

export interface CertificateRequestOptions {
  /** The certificate server, `host:port` (KubeEdge's 10002). */
  readonly server: string;
  /** `<hex sha256 of the cloud CA DER>.<JWT>`, from `cloudcore token create`. */
  readonly token: string;
  readonly nodeName: string;
  readonly timeoutMs?: number;
}

export interface JoinOptions extends CertificateRequestOptions {
  /** Where ca.crt, node.crt and node.key are written. */
  readonly certDir: string;
}

/** What a node needs for its tunnel: the cloud CA, its certificate and its key, as PEM. */
export interface NodePems {
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface NodeCredentials extends NodePems {
  readonly certFile: string;
  readonly keyFile: string;
  readonly caFile: string;
}

const TOKEN = /^([0-9a-f]{64})\.([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/;

/** Splits a join token, with a clear error for anything that is not `<64 hex>.<jwt>`. */
export function parseJoinToken(token: string): { readonly caHash: string; readonly jwt: string } {
  const match = TOKEN.exec(token.trim());
  if (!match?.[1] || !match[2])
    throw new JoinError("token is not of the form <sha256 of the CA, 64 hex>.<JWT>");
  return { caHash: match[1], jwt: match[2] };
}

/** Where a joined node keeps its credentials: one layout for `edgecore join` and `edgecore run`. */
export function credentialFiles(certDir: string): { caFile: string; certFile: string; keyFile: string } {
  return {
    caFile: join(certDir, "ca.crt"),
    certFile: join(certDir, "node.crt"),
    keyFile: join(certDir, "node.key"),
  };
}

/** Reads the node's certificate, key and the cloud CA as joinCloud stored them. */
export function loadCredentials(certDir: string): NodePems {
  const read = (file: string): string => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      throw new JoinError(
        `cannot read ${file} (run \`edgecore join\` first): ${(err as Error).message}`,
        undefined,
        {
          cause: err,
        },
      );
    }
  };
  const { caFile, certFile, keyFile } = credentialFiles(certDir);
  return { caPem: read(caFile), certPem: read(certFile), keyPem: read(keyFile) };
}

/**
 * KubeEdge's join: fetch the CA over unverified TLS and pin it by the hash in the token; create a
 * P-256 key and a CSR for `system:node:<node>`; send it with the token to `/edge.crt` over TLS now
 * verified against that CA; store CA, certificate and key.
 */
export async function joinCloud(options: JoinOptions): Promise<NodeCredentials> {
  const { caPem, certPem, keyPem } = await requestNodeCertificate(options);
  mkdirSync(options.certDir, { recursive: true, mode: 0o700 });
  const { caFile, certFile, keyFile } = credentialFiles(options.certDir);
  // Key first, certificate last: a node.crt on disk always has its key beside it.
  writeAtomic(keyFile, keyPem, 0o600);
  writeAtomic(caFile, caPem, 0o644);
  writeAtomic(certFile, certPem, 0o644);
  return { caPem, certPem, keyPem, caFile, certFile, keyFile };
}

/** The join's network half: the pinned CA, a new key and the certificate issued for it, in memory. */
export async function requestNodeCertificate(options: CertificateRequestOptions): Promise<NodePems> {
  const { caHash, jwt } = parseJoinToken(options.token);
  const address = parseHostPort(options.server);
  if (!address) throw new JoinError(`cloudcore address ${JSON.stringify(options.server)} is not host:port`);
  const { host, port } = address;
  const timeoutMs = options.timeoutMs ?? 30_000;

  // Trust on first use, pinned by the token: an attacker in the middle cannot produce a CA whose
  // hash matches.
  const caDer = await get({ host, port, path: "/ca.crt", rejectUnauthorized: false, timeoutMs });
  const actualHash = createHash("sha256").update(caDer.body).digest("hex");
  if (caDer.status !== 200) throw new JoinError(`GET /ca.crt answered ${caDer.status}`, caDer.status);
  if (actualHash !== caHash) {
    throw new JoinError(`the server's CA (sha256 ${actualHash}) does not match the token's (${caHash})`);
  }
  const caPem = new x509.X509Certificate(caDer.body).toString("pem");

  const keys = await generateKeyPair();
  const csr = Buffer.from(await createNodeCsr(options.nodeName, keys));
  const response = await get({
    host,
    port,
    path: "/edge.crt",
    ca: caPem,
    headers: {
      authorization: `Bearer ${jwt}`,
      nodename: options.nodeName,
      "content-type": "application/octet-stream",
    },
    body: csr,
    timeoutMs,
  });
  if (response.status !== 200) {
    throw new JoinError(
      `certificate request refused (${response.status}): ${response.body.toString("utf8").trim()}`,
      response.status,
    );
  }
  const certPem = new x509.X509Certificate(response.body).toString("pem");
  const keyPem = await privateKeyPem(keys.privateKey);
  return { caPem, certPem, keyPem };
}

function writeAtomic(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  renameSync(tmp, path);
}

interface GetOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly ca?: string;
  readonly rejectUnauthorized?: boolean;
  readonly headers?: Record<string, string>;
  readonly body?: Buffer;
  readonly timeoutMs: number;
}

/** KubeEdge's certificate server takes the CSR as the body of a GET. */
function get(options: GetOptions): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: options.host,
        port: options.port,
        path: options.path,
        method: "GET",
        ca: options.ca,
        rejectUnauthorized: options.rejectUnauthorized ?? true,
        minVersion: "TLSv1.2",
        headers: {
          ...options.headers,
          ...(options.body ? { "content-length": String(options.body.length) } : {}),
        },
        timeout: options.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`${options.path} timed out after ${options.timeoutMs} ms`)),
    );
    req.on("error", (err) =>
      reject(
        new JoinError(
          `cannot reach ${options.host}:${options.port}${options.path}: ${err.message}`,
          undefined,
          { cause: err },
        ),
      ),
    );
    req.end(options.body);
  });
}
