import type { CoreV1Api, V1Secret } from "@kubernetes/client-node";
import { CertificateAuthority } from "../../protocol/pki.js";
import { apiStatus, ApiserverError } from "../errors.js";

/**
 * Where the cloud CA lives: the same Secret KubeEdge uses (`kubeedge/casecret`, keys `cadata` and
 * `cakeydata`, DER), so every replica shares one CA and an existing KubeEdge CA can be reused.
 */
export const CA_SECRET = {
  namespace: "kubeedge",
  name: "casecret",
  certKey: "cadata",
  keyKey: "cakeydata",
} as const;

/** The namespace cloudcore keeps its Secrets in (KubeEdge's). */
export const DEFAULT_CLOUD_NAMESPACE: string = CA_SECRET.namespace;

const CA_COMMON_NAME = "KubeEdge";
const CA_VALIDITY_DAYS = 100 * 365;

function caFromSecret(secret: V1Secret): Promise<CertificateAuthority> {
  const cert = secret.data?.[CA_SECRET.certKey];
  const key = secret.data?.[CA_SECRET.keyKey];
  if (!cert || !key) {
    throw new ApiserverError(
      `secret ${secret.metadata?.namespace}/${CA_SECRET.name} lacks ${CA_SECRET.certKey} or ${CA_SECRET.keyKey}`,
    );
  }
  return CertificateAuthority.fromDer(Buffer.from(cert, "base64"), Buffer.from(key, "base64"));
}

/**
 * Loads the cloud CA, creating it if no replica has yet. Replicas racing at first start all end up
 * with the one CA whose create won: a loser's create fails with 409 and it reads the winner's.
 */
export async function loadOrCreateCa(
  core: CoreV1Api,
  namespace = DEFAULT_CLOUD_NAMESPACE,
): Promise<CertificateAuthority> {
  const read = async (): Promise<CertificateAuthority> =>
    caFromSecret(await core.readNamespacedSecret({ namespace, name: CA_SECRET.name }));
  try {
    return await read();
  } catch (err) {
    if (apiStatus(err) !== 404) throw wrap(err, "read", namespace);
  }
  await ensureNamespace(core, namespace);
  const ca = await CertificateAuthority.create(CA_COMMON_NAME, CA_VALIDITY_DAYS);
  try {
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: CA_SECRET.name, labels: { "app.kubernetes.io/managed-by": "edgefleet-cloudcore" } },
        type: "Opaque",
        data: {
          [CA_SECRET.certKey]: Buffer.from(ca.certDer).toString("base64"),
          [CA_SECRET.keyKey]: Buffer.from(await ca.keyDer()).toString("base64"),
        },
      },
    });
    return ca;
  } catch (err) {
    if (apiStatus(err) !== 409) throw wrap(err, "create", namespace);
    return read();
  }
}

/**
 * Makes sure the namespace exists. It is read first: an installed cloudcore (the Helm chart) may
 * read its own namespace but has no right to create namespaces, which it never needs there.
 */
export async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.readNamespace({ name });
    return;
  } catch (err) {
    if (apiStatus(err) !== 404) {
      throw new ApiserverError(`read namespace ${name}: ${(err as Error).message}`, { cause: err });
    }
  }
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (err) {
    if (apiStatus(err) !== 409) {
      throw new ApiserverError(`create namespace ${name}: ${(err as Error).message}`, { cause: err });
    }
  }
}

function wrap(err: unknown, verb: string, namespace: string): ApiserverError {
  return new ApiserverError(`${verb} CA secret ${namespace}/${CA_SECRET.name}: ${(err as Error).message}`, {
    cause: err,
  });
}
