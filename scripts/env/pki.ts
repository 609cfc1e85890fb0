import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

// @peculiar/x509 is typed against the DOM's Crypto; Node's webcrypto implements the same API.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKey = webcrypto.CryptoKey;

// ECDSA P-256 everywhere: KubeEdge's cloudhub only offers ECDHE-ECDSA suites on TLS 1.2, and
// kube-apiserver, etcd and Go's TLS stack all accept P-256 keys for serving, client and SA signing.
const EC_KEY: webcrypto.EcKeyGenParams = { name: "ECDSA", namedCurve: "P-256" };
const EC_SIGN: webcrypto.EcdsaParams = { name: "ECDSA", hash: "SHA-256" };
const DAY_MS = 24 * 3600 * 1000;

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

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // positive
  return Buffer.from(bytes).toString("hex");
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

  get certPem(): string {
    return this.certificate.toString("pem");
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
