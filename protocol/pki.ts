import { KeyObject, webcrypto, X509Certificate as NativeX509Certificate } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { CsrSignatureError } from "./errors.js";

// @peculiar/x509 is typed against the DOM's Crypto; Node's webcrypto implements the same API.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;
type Crypto = Parameters<typeof x509.cryptoProvider.set>[0];
type BufferSource = ArrayBuffer | ArrayBufferView;

// ECDSA P-256 everywhere: KubeEdge's cloudhub only offers ECDHE-ECDSA suites on TLS 1.2, and
// kube-apiserver, etcd and Go's TLS stack all accept P-256 keys for serving, client and SA signing.
const EC_KEY: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const EC_SIGN: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 3600 * 1000;

/** The DER bytes of the first PEM block (certificate or key). */
export function pemToDer(pem: string): Uint8Array {
  const match = /-----BEGIN [A-Z ]+-----([\s\S]*?)-----END [A-Z ]+-----/.exec(pem);
  if (!match?.[1]) throw new Error("no PEM block found");
  return Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}

export interface KeyPair {
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
}

export interface IssuedCertificate {
  readonly certificate: x509.X509Certificate;
  readonly keys: KeyPair;
  /** PEM of the certificate. */
  readonly certPem: string;
  /** PKCS#8 PEM ("PRIVATE KEY") of the private key. */
  readonly keyPem: string;
}

export interface CertificateRequest {
  /** Distinguished name, e.g. "CN=system:kube-scheduler" or "CN=admin, O=system:masters". */
  readonly subject: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly usage: "server" | "client" | "server+client";
  readonly validityDays?: number;
}

export async function generateKeyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"])) as KeyPair;
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

export async function publicKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("spki", key);
  return x509.PemConverter.encode(der, "PUBLIC KEY");
}

function toArrayBuffer(data: BufferSource): ArrayBuffer {
  if (data instanceof ArrayBuffer) return data;
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return view.slice().buffer;
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  return Buffer.from(bytes).toString("hex");
}

/** Subject fields of a node's client certificate, as KubeEdge's edgecore requests it. */
export const NODE_ORGANIZATION = "system:nodes";
const NODE_CN_PREFIX = "system:node:";

/** The node name a client certificate was issued for, or undefined if it is not a node certificate. */
export function nodeNameOf(
  certificate: x509.X509Certificate | x509.Pkcs10CertificateRequest,
): string | undefined {
  const name =
    certificate instanceof x509.X509Certificate ? certificate.subjectName : certificate.subjectName;
  const cn = name.getField("CN");
  const org = name.getField("O");
  if (cn.length !== 1 || !cn[0]?.startsWith(NODE_CN_PREFIX) || !org.includes(NODE_ORGANIZATION))
    return undefined;
  const node = cn[0].slice(NODE_CN_PREFIX.length);
  return node === "" ? undefined : node;
}

/**
 * The node name in a subject as node:crypto's X509Certificate prints it (one `KEY=value` per
 * line), with the same rule as nodeNameOf: exactly one CN `system:node:<name>`, O `system:nodes`.
 */
export function nodeNameOfSubject(subject: string): string | undefined {
  const cn: string[] = [];
  const org: string[] = [];
  for (const line of subject.split("\n")) {
    const at = line.indexOf("=");
    const key = line.slice(0, at);
    const value = line.slice(at + 1);
    if (key === "CN") cn.push(value);
    else if (key === "O") org.push(value);
  }
  if (cn.length !== 1 || !cn[0]?.startsWith(NODE_CN_PREFIX) || !org.includes(NODE_ORGANIZATION))
    return undefined;
  const node = cn[0].slice(NODE_CN_PREFIX.length);
  return node === "" ? undefined : node;
}

/**
 * A node's certificate signing request (DER), with KubeEdge edgecore's subject: the fixed
 * C/ST/L fields it uses, O=system:nodes, CN=system:node:<node>.
 */
export async function createNodeCsr(nodeName: string, keys: KeyPair): Promise<ArrayBuffer> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `C=CN, ST=Zhejiang, L=Hangzhou, O=${NODE_ORGANIZATION}, CN=${NODE_CN_PREFIX}${nodeName}`,
    keys,
    signingAlgorithm: EC_SIGN,
  });
  return csr.rawData;
}

/** A certificate authority that signs serving and client certificates. */
export class CertificateAuthority {
  private constructor(
    readonly certificate: x509.X509Certificate,
    private readonly keys: KeyPair,
  ) {}

  static async create(commonName: string, validityDays = 3650): Promise<CertificateAuthority> {
    const keys = await generateKeyPair();
    const now = Date.now();
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: randomSerial(),
      name: `CN=${commonName}`,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + validityDays * DAY_MS),
      signingAlgorithm: EC_SIGN,
      keys,
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ],
    });
    return new CertificateAuthority(certificate, keys);
  }

  /** Loads a CA from its certificate and PKCS#8 private key, both PEM (files an operator keeps). */
  static fromPem(certPem: string, keyPem: string): Promise<CertificateAuthority> {
    return CertificateAuthority.fromDer(pemToDer(certPem), pemToDer(keyPem));
  }

  /** Loads a CA from its certificate and PKCS#8 private key, both DER (as KubeEdge's casecret holds them). */
  static async fromDer(certDer: BufferSource, keyDer: BufferSource): Promise<CertificateAuthority> {
    const certificate = new x509.X509Certificate(toArrayBuffer(certDer));
    const privateKey = await webcrypto.subtle.importKey("pkcs8", toArrayBuffer(keyDer), EC_KEY, true, [
      "sign",
    ]);
    const publicKey = await certificate.publicKey.export(EC_KEY, ["verify"], webcrypto as unknown as Crypto);
    return new CertificateAuthority(certificate, {
      privateKey,
      publicKey: publicKey as unknown as CryptoKey,
    });
  }

  get certPem(): string {
    return this.certificate.toString("pem");
  }

  #native: { certificate: NativeX509Certificate; publicKey: KeyObject } | undefined;

  /**
   * The CA certificate and its public key as node:crypto (OpenSSL) objects, for the hot path of
   * checking certificates natively (every tunnel upgrade) instead of parsing ASN.1 in JavaScript.
   */
  get native(): { certificate: NativeX509Certificate; publicKey: KeyObject } {
    this.#native ??= {
      certificate: new NativeX509Certificate(Buffer.from(this.certificate.rawData)),
      publicKey: KeyObject.from(this.keys.publicKey),
    };
    return this.#native;
  }

  get certDer(): ArrayBuffer {
    return this.certificate.rawData;
  }

  async keyDer(): Promise<ArrayBuffer> {
    return webcrypto.subtle.exportKey("pkcs8", this.keys.privateKey);
  }

  /** Hex SHA-256 of the CA certificate's DER: the first part of a KubeEdge join token. */
  async fingerprint(): Promise<string> {
    return Buffer.from(await webcrypto.subtle.digest("SHA-256", this.certificate.rawData)).toString("hex");
  }

  /** True when `certificate` was signed by this CA and is valid at `at`. */
  async issued(certificate: x509.X509Certificate, at = new Date()): Promise<boolean> {
    if (certificate.issuer !== this.certificate.subject) return false;
    return certificate.verify(
      { publicKey: this.keys.publicKey as unknown as x509.PublicKeyType, date: at },
      webcrypto as unknown as Crypto,
    );
  }

  /**
   * Signs a PKCS#10 request after checking its self-signature (CsrSignatureError if it fails),
   * copying its subject and its DNS/IP subject alternative names, as KubeEdge's certificate server
   * does.
   */
  async signCsr(
    csr: x509.Pkcs10CertificateRequest,
    usage: CertificateRequest["usage"],
    validityDays = 365,
  ): Promise<x509.X509Certificate> {
    if (!(await csr.verify(webcrypto as unknown as Crypto)))
      throw new CsrSignatureError("CSR signature does not verify");
    const san = csr.extensions.find(
      (e): e is x509.SubjectAlternativeNameExtension => e instanceof x509.SubjectAlternativeNameExtension,
    );
    const names: x509.JsonGeneralName[] = san?.names.toJSON() ?? [];
    const publicKey = await csr.publicKey.export(webcrypto as unknown as Crypto);
    return this.sign(publicKey as unknown as CryptoKey, {
      subject: csr.subject,
      usage,
      validityDays,
      dnsNames: names.filter((n) => n.type === "dns").map((n) => n.value),
      ipAddresses: names.filter((n) => n.type === "ip").map((n) => n.value),
    });
  }

  async keyPem(): Promise<string> {
    return privateKeyPem(this.keys.privateKey);
  }

  /** Issues a certificate for a fresh key pair. */
  async issue(request: CertificateRequest): Promise<IssuedCertificate> {
    const keys = await generateKeyPair();
    const certificate = await this.sign(keys.publicKey, request);
    return {
      certificate,
      keys,
      certPem: certificate.toString("pem"),
      keyPem: await privateKeyPem(keys.privateKey),
    };
  }

  /** Signs a certificate for a public key the caller holds the private half of. */
  async sign(publicKey: CryptoKey, request: CertificateRequest): Promise<x509.X509Certificate> {
    const now = Date.now();
    const usages: string[] = [];
    if (request.usage.includes("server")) usages.push(x509.ExtendedKeyUsage.serverAuth);
    if (request.usage.includes("client")) usages.push(x509.ExtendedKeyUsage.clientAuth);
    const altNames: x509.JsonGeneralName[] = [
      ...(request.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
      ...(request.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ];
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(usages, false),
      await x509.AuthorityKeyIdentifierExtension.create(this.certificate, false),
    ];
    if (altNames.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(altNames, false));
    return x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: request.subject,
      issuer: this.certificate.subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + (request.validityDays ?? 365) * DAY_MS),
      signingAlgorithm: EC_SIGN,
      publicKey,
      signingKey: this.keys.privateKey,
      extensions,
    });
  }
}

/**
 * The serving certificate of a cloudcore endpoint (tunnel, certificate server), as KubeEdge names it
 * (CN and O `KubeEdge`), valid for the names and addresses edges dial.
 */
export function issueServingCertificate(
  ca: CertificateAuthority,
  advertise: { readonly dnsNames: readonly string[]; readonly ipAddresses: readonly string[] },
): Promise<IssuedCertificate> {
  return ca.issue({
    subject: "CN=KubeEdge, O=KubeEdge",
    usage: "server",
    dnsNames: advertise.dnsNames,
    ipAddresses: advertise.ipAddresses,
  });
}
